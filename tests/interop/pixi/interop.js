// PixiJS v8 loads GenStudio sprite sheets (PNG + .pixi.json, and for comparison the Aseprite
// JSON) with Assets.load and reports what it understood, as JSON in <pre id="result">, for
// tests/interop/test_pixi_spritesheet.py (which reads it through `chromium --headless --dump-dom`).
//
// index.html?config=<URL of a .js file setting window.GENSTUDIO_PIXI_CASES>
// GENSTUDIO_PIXI_CASES = {phases: [{name, sheets: [json URL, ...], render: [{sheet, texture}]}]}
// The phases run one after another in one page (one global Assets cache, as in a game); the
// sheets of a phase are loaded together with one Assets.load. Every console.warn is recorded
// with the phase it happened in (Pixi warns "[Cache] already has key: <name>" when a texture
// name is loaded twice).
/* global PIXI */
(function () {
  'use strict';
  var phase = 'start';
  var warnings = [];
  var done = false;

  var origWarn = console.warn;
  console.warn = function () {
    warnings.push({ phase: phase, text: Array.prototype.map.call(arguments, String).join(' ') });
    return origWarn.apply(console, arguments);
  };

  function finish(result) {
    if (done) { return; }
    done = true;
    result.warnings = warnings;
    document.getElementById('result').textContent = JSON.stringify(result);
  }

  window.addEventListener('error', function (e) {
    finish({ ok: false, error: 'page error: ' + e.message + ' (' + e.filename + ':' + e.lineno + ')' });
  });
  window.addEventListener('unhandledrejection', function (e) {
    finish({ ok: false, error: 'unhandled rejection: ' + String(e.reason && e.reason.stack ? e.reason.stack : e.reason) });
  });

  // Chromium's fetch() refuses file:// URLs; XMLHttpRequest reads them with
  // --allow-file-access-from-files. Pixi fetches through its DOMAdapter, so give it one.
  function xhrFetch(url) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open('GET', url);
      xhr.responseType = 'arraybuffer';
      xhr.onload = function () {
        var status = xhr.status || 200; // file:// answers 0
        resolve(new Response(xhr.response, { status: status }));
      };
      xhr.onerror = function () { reject(new Error('could not read ' + url)); };
      xhr.send();
    });
  }

  function rect(r) {
    return { x: r.x, y: r.y, w: r.width, h: r.height };
  }

  function describeSheet(url, sheet) {
    var names = Object.keys(sheet.textures);
    var textures = {};
    var notCached = [];
    names.forEach(function (n) {
      var t = sheet.textures[n];
      textures[n] = {
        frame: rect(t.frame), // in texture units: pixels / resolution
        orig: rect(t.orig),
        width: t.width,
        height: t.height,
        anchor: t.defaultAnchor ? { x: t.defaultAnchor.x, y: t.defaultAnchor.y } : null
      };
      if (PIXI.Cache.get(n) !== t) { notCached.push(n); }
    });
    var animations = {};
    Object.keys(sheet.animations).forEach(function (a) {
      animations[a] = sheet.animations[a].map(function (t) { return t ? t.label : null; });
    });
    var src = sheet.textureSource;
    return {
      url: url,
      textureCount: names.length,
      textureNames: names,
      textures: textures,
      animations: animations,
      resolution: sheet.resolution,
      source: { width: src.width, height: src.height, pixelWidth: src.pixelWidth, pixelHeight: src.pixelHeight },
      notCached: notCached // names whose global Cache entry is some other texture
    };
  }

  // An AnimatedSprite of each animation: its size, frame count and first texture.
  function describeAnimatedSprites(sheet) {
    var out = {};
    Object.keys(sheet.animations).forEach(function (a) {
      var s = new PIXI.AnimatedSprite(sheet.animations[a]);
      out[a] = {
        totalFrames: s.totalFrames,
        width: s.width,
        height: s.height,
        anchor: { x: s.anchor.x, y: s.anchor.y },
        first: s.texture.label
      };
      s.destroy();
    });
    return out;
  }

  // Pixi's renderer draws one texture alone into a canvas of its size; the PNG goes back.
  function renderTexture(renderer, tex) {
    var w = Math.round(tex.width);
    var h = Math.round(tex.height);
    renderer.resize(w, h);
    var sprite = new PIXI.Sprite(tex);
    sprite.anchor.set(0, 0);
    renderer.render({ container: sprite, clear: true, clearColor: [0, 0, 0, 0] });
    var url = renderer.canvas.toDataURL('image/png');
    sprite.destroy();
    return url;
  }

  async function runPhase(p, renderer) {
    phase = p.name;
    var out = { name: p.name, ok: true, sheets: {} };
    try {
      var loaded = await PIXI.Assets.load(p.sheets);
      p.sheets.forEach(function (url) {
        var sheet = loaded[url];
        if (!(sheet instanceof PIXI.Spritesheet)) {
          out.sheets[url] = { url: url, spritesheet: false };
          return;
        }
        sheet.textureSource.scaleMode = 'nearest';
        var d = describeSheet(url, sheet);
        d.spritesheet = true;
        d.animatedSprites = describeAnimatedSprites(sheet);
        out.sheets[url] = d;
      });
      // after all the sheets of the phase: what the global cache holds now
      out.cacheAfter = {};
      p.sheets.forEach(function (url) {
        var d = out.sheets[url];
        if (d.spritesheet) {
          var sheet = loaded[url];
          d.notCachedAfterAll = d.textureNames.filter(function (n) {
            return PIXI.Cache.get(n) !== sheet.textures[n];
          });
        }
      });
      out.renders = (p.render || []).map(function (r) {
        var tex = loaded[r.sheet].textures[r.texture];
        return { sheet: r.sheet, texture: r.texture, png: tex ? renderTexture(renderer, tex) : null };
      });
    } catch (e) {
      out.ok = false;
      out.error = String(e && e.stack ? e.stack : e);
    }
    return out;
  }

  async function runAll(cfg) {
    PIXI.DOMAdapter.set(Object.assign({}, PIXI.BrowserAdapter, { fetch: xhrFetch }));
    // Images through <img> elements: a worker cannot read file://, and headless Chromium's
    // virtual time does not wait for createImageBitmap (a large sheet was never finished).
    await PIXI.Assets.init({ preferences: { preferWorkers: false, preferCreateImageBitmap: false } });
    var renderer = await PIXI.autoDetectRenderer({
      preference: 'canvas', // headless Chromium may have no WebGL; Canvas2D draws exactly
      width: 16,
      height: 16,
      backgroundAlpha: 0,
      antialias: false,
      resolution: 1,
      autoDensity: false
    });
    var phases = [];
    for (var i = 0; i < cfg.phases.length; i++) {
      phases.push(await runPhase(cfg.phases[i], renderer));
    }
    finish({ ok: true, pixi: PIXI.VERSION, renderer: renderer.name, phases: phases });
  }

  window.addEventListener('load', function () {
    var q = new URLSearchParams(window.location.search);
    if (!q.get('config')) {
      finish({ ok: false, error: 'usage: index.html?config=<cases.js URL>' });
      return;
    }
    var s = document.createElement('script');
    s.src = q.get('config');
    s.onload = function () {
      runAll(window.GENSTUDIO_PIXI_CASES || { phases: [] }).catch(function (e) {
        finish({ ok: false, error: String(e && e.stack ? e.stack : e) });
      });
    };
    s.onerror = function () { finish({ ok: false, error: 'could not load the config ' + s.src }); };
    document.head.appendChild(s);
  });
}());
