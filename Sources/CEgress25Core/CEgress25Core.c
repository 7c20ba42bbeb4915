// Header-only module (see include/CEgress25Core.h); SwiftPM needs one source file per C target.
#include "CEgress25Core.h"
