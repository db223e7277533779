/* SPDX-License-Identifier: MIT */
/*
 * Escaping text that is not ours (a name, a file, a message from an image,
 * a component, a signature or an archive) before it reaches a terminal or a
 * log, so that it cannot forge a line or send a terminal escape.
 *
 * One rule for every printer: valid UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF) is kept as it is, except the C1 controls U+0080 to
 * U+009F; a newline is written \n, a tab \t, a backslash \\; every other byte
 * below 0x20, 0x7f, both bytes of a C1 control and every byte that is not
 * part of valid UTF-8 is \xHH (two lowercase hex digits). The output is
 * printable and on one line, and it tells the bytes apart.
 */
#ifndef MK_ESCAPE_H
#define MK_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* The length (2 to 4) of the valid multibyte UTF-8 sequence at s, 1 for an ASCII byte, 0 for a byte that
 * starts no valid sequence (s is NUL-terminated: a sequence cut by the NUL is invalid). */
size_t mk_utf8_len(const char *s);

/*
 * s escaped into buf (size bytes, at least 1), always NUL-terminated;
 * returns buf. What does not fit is left off at a character's boundary:
 * never half an escape or half a UTF-8 sequence.
 */
const char *mk_quote(const char *s, char *buf, size_t size);

/* s escaped onto f, however long; returns the number of bytes written. */
size_t mk_fputs_quoted(const char *s, FILE *f);

/*
 * The same for a message that already holds quoted parts (an mk_error's
 * text, whose names went through mk_quote): a backslash is kept as it is,
 * so that those parts read the same; control bytes and invalid UTF-8 are
 * escaped all the same.
 */
size_t mk_fputs_message(const char *s, FILE *f);

#endif
