# The one place the version lives. The top-level Makefile, extension/Makefile
# (control file, install script name, library) and CMake (CLI, shim) read it.
PYMIGRATE_VERSION := 0.1.0
