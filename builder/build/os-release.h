/* SPDX-License-Identifier: MIT */
/*
 * The root's os-release (os-release(5)), generated from the model: the image
 * is the operating system the model describes, so its name and version are
 * the model's. /usr/lib/os-release is the file and /etc/os-release a
 * relative symlink to it (../usr/lib/os-release), as systemd expects. A
 * component that ships either path is refused (docs/model.md, "os-release").
 */
#ifndef MK_OS_RELEASE_H
#define MK_OS_RELEASE_H

#include "builder/model/model.h"
#include "builder/tree/fstree.h"
#include "signing/base/error.h"

#define MK_OS_RELEASE_FILE "usr/lib/os-release"
#define MK_OS_RELEASE_LINK "etc/os-release"
#define MK_OS_RELEASE_TARGET "../usr/lib/os-release"

/*
 * The text for model m (malloc'd into *ret, NUL-terminated):
 *   NAME="BRAND MODEL"  PRETTY_NAME="BRAND MODEL VERSION"
 *   ID=brand-model (lower case, other characters as '-')
 *   VERSION_ID=VERSION  IMAGE_ID=MODEL  IMAGE_VERSION=VERSION
 * Quoted values escape '"', '\\', '$' and '`'. *ret untouched on failure.
 */
int mk_os_release_text(const mk_model *m, char **ret, mk_error *err) __attribute__((warn_unused_result));

/*
 * The name of a component's path that mkimage generates ("/usr/lib/os-release"),
 * or NULL when tree provides neither; for the refusal's message.
 */
const char *mk_os_release_clash(fstree *tree);

/* Add both paths to tree (mode 0644, root:root; times are the tree's). */
int mk_os_release_add(fstree *tree, const mk_model *m, mk_error *err) __attribute__((warn_unused_result));

#endif
