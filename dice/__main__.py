from dice.cli import main

raise SystemExit(main())
