import multiprocessing

if __name__ == "__main__":
    # A frozen bundle starts this script for every process it spawns (multiprocessing's
    # children on Windows/macOS): freeze_support() runs the child's work instead of the CLI.
    multiprocessing.freeze_support()
    from genstudio.cli import main

    raise SystemExit(main())
