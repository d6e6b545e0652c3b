#pragma once
// UTF-8 checks for the HTTP server: request bodies must be valid UTF-8 before they reach the
// JSON parser and the tokenizer, and streamed text must not be cut inside a code point
// (a token can decode to part of a character, e.g. byte-fallback tokens).
#include <cstddef>
#include <string_view>

namespace hsd::server {

// True if s is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..DFFF),
// nothing above U+10FFFF, no stray continuation bytes, no truncated sequence at the end.
// On false, *bad_offset (if given) is the offset of the first byte of the offending sequence.
bool valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

// The largest n' <= n such that s[0, n') does not end inside an incomplete (but so far
// valid-looking) multi-byte sequence: a lead byte followed by fewer continuation bytes than
// it announces, reaching exactly up to n. Invalid bytes are not held back (they could never
// complete), so text is never held forever.
size_t utf8_safe_cut(std::string_view s, size_t n);

}  // namespace hsd::server
