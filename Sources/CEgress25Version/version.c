#include "egress25_version.h"

// The one place egress25's version is written. It lives in C, not Swift, so that a release build stamped with
// another version (scripts/build-deb.sh --version-override, for the upgrade test) recompiles one object file
// and relinks, rather than rebuilding every module that asks for it.
#define EGRESS25_VERSION "2.0.0"

const char *egress25_version(void) { return EGRESS25_VERSION; }
