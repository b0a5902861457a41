from codeseek.cli import main

raise SystemExit(main())
