"""Reading and writing data: raw Chen 2018 files, the stage outputs, downloads."""
