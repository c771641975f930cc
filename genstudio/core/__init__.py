"""Qt-free, torch-free core: projects on disk, gallery index, jobs, settings, errors."""
