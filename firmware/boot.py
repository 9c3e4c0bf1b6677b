# Runs first after every reset. The firmware imports the package from /lib and the board file
# from /boards (a folder without __init__.py); make sure /lib is searched on every port.
import sys

if "/lib" not in sys.path:
    sys.path.append("/lib")
