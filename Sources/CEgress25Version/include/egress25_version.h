#ifndef EGRESS25_VERSION_H
#define EGRESS25_VERSION_H

/// The release version of egress25, a semantic version such as "2.0.0" (NUL-terminated, static storage).
///
/// What `egress25d --version`, `egress25ctl --version` and `egress25-admin --version` print, and the version
/// scripts/build-deb.sh gives the Debian package (it asks the built binary).
const char *egress25_version(void);

#endif
