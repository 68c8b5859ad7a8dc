// What may go into an HTTP request's header section (RFC 9110 §5): one home
// for the workflows service, which refuses bad headers at create/update, and
// the heartbeat program, which refuses them again on its command line (a
// Workflow written straight to the apiserver never passed the service).
// Loops, not patterns: linear by construction.

/** The longest header name accepted. */
export const HEADER_NAME_MAX_LENGTH = 256;

const TOKEN_SYMBOLS = "!#$%&'*+-.^_`|~";

/** A field name: a token (letters, digits and !#$%&'*+-.^_`|~), 1–256 characters. */
export function isHeaderName(text: string): boolean {
  if (text.length === 0 || text.length > HEADER_NAME_MAX_LENGTH) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!alnum && !TOKEN_SYMBOLS.includes(text[i] as string)) return false;
  }
  return true;
}

/**
 * A field value: visible ASCII, space, tab and Latin-1 text — no CR, LF, NUL
 * or other control characters (C0, DEL, C1), nothing that is not one octet.
 */
export function isHeaderValue(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!(c === 0x09 || (c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xff))) return false;
  }
  return true;
}

/** Headers that carry credentials: sent only to the origin the user named. */
const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "cookie", "cookie2", "www-authenticate"];

export function isCredentialHeader(name: string): boolean {
  return CREDENTIAL_HEADERS.includes(name.toLowerCase());
}

/**
 * Whether credentials given for `original` (its Authorization header, its
 * userinfo) may be sent to `target`, a redirect hop: only to the same origin
 * (scheme, host and port), so never to another host or port and never from
 * https down to http. This is what browsers' fetch does with Authorization,
 * and stricter than Go's client, which also sends them to subdomains.
 */
export function credentialsMayGoTo(original: URL, target: URL): boolean {
  return original.origin === target.origin && original.origin !== "null";
}
