; Inno Setup script for the Windows installer of the lean studio bundle.
; UNTESTED: written to the same layout as the Linux packages, but no Windows machine is
; available to this project's CI. Build on Windows:
;   py -m PyInstaller packaging\genstudio.spec --noconfirm --distpath dist --workpath build
;   py packaging\linux\render_icon.py packaging\linux\genstudio.svg dist\icons
;   py -c "from PIL import Image; Image.open('dist/icons/256x256/apps/genstudio.png').save('dist/genstudio.ico', sizes=[(16,16),(32,32),(48,48),(256,256)])"
;   iscc /DVersion=0.1.0 packaging\windows\genstudio.iss
; Uninstalling removes the program folder only; projects and settings (%APPDATA%\GenStudio,
; the folders the user chose) are left alone.

#ifndef Version
  #define Version "0.1.0"
#endif

[Setup]
AppId={{6B1E4C1A-3D5E-4E7A-9F0B-2A6C0D9E5A11}
AppName=GenStudio
AppVersion={#Version}
AppPublisher=GenStudio developers
DefaultDirName={autopf}\GenStudio
DefaultGroupName=GenStudio
OutputDir=..\..\dist
OutputBaseFilename=GenStudio-{#Version}-windows-x64-setup
SetupIconFile=..\..\dist\genstudio.ico
UninstallDisplayIcon={app}\genstudio.exe
Compression=lzma2/ultra64
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
ChangesAssociations=yes

[Files]
Source: "..\..\dist\GenStudio\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\GenStudio"; Filename: "{app}\genstudio.exe"; Parameters: "ui"
Name: "{autodesktop}\GenStudio"; Filename: "{app}\genstudio.exe"; Parameters: "ui"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop icon"; Flags: unchecked

[Registry]
; a project opens by its project.json ("Open with GenStudio")
Root: HKA; Subkey: "Software\Classes\Applications\genstudio.exe\shell\open\command"; ValueType: string; ValueData: """{app}\genstudio.exe"" ui ""%1"""; Flags: uninsdeletekey

[Run]
Filename: "{app}\genstudio.exe"; Parameters: "ui"; Description: "Start GenStudio"; Flags: nowait postinstall skipifsilent
