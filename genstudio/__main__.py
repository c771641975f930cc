from genstudio.cli import main

raise SystemExit(main())
