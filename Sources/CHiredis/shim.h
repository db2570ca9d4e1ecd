// Debian's libhiredis-dev 0.14.1 installs its headers under hiredis/; pkg-config adds -I/usr/include/hiredis.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
