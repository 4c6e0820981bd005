/**
 * The shapes of the secrets that span whitespace (a `Bearer` and its token, a
 * credential name with its `:` / `=` and value, a private key from its BEGIN line
 * to its END line), written once: `OutputGuard` matches them whole, and the
 * streaming guard holds back text from where one of them may still be growing.
 */

const CREDENTIAL_NAME = String.raw`\b(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|password|passwd|client[_-]?secret)["']?`
const CREDENTIAL_VALUE = String.raw`[A-Za-z0-9_\-/+.!@#$%^&*]`
const BEARER_VALUE = String.raw`[A-Za-z0-9._~+/=-]`
const KEY_LINE = (edge: "BEGIN" | "END") => String.raw`-----${edge} (?:[A-Z]+ )?PRIVATE KEY-----`

/** A private key, to its END line or, without one, to the end of the text. */
export const privateKey = new RegExp(String.raw`${KEY_LINE("BEGIN")}[\s\S]*?(?:${KEY_LINE("END")}|$)`, "g")
/** `Bearer` and a token of 20 or more characters. */
export const bearerToken = new RegExp(String.raw`\bBearer\s+${BEARER_VALUE}{20,}`, "g")
/** A credential name, `:` or `=`, and a value of 8 or more characters. */
export const credentialAssignment = new RegExp(String.raw`${CREDENTIAL_NAME}\s*[:=]\s*["']?${CREDENTIAL_VALUE}{8,}`, "gi")

/** Unfinished at the end of a text: a `Bearer` and its token so far, a BEGIN line so far, a credential name and its value so far. */
const openAtEnd = [
  new RegExp(String.raw`\bBearer(?:\s+${BEARER_VALUE}*)?\s*$`),
  /-----BEGIN(?: [A-Z]*)*-*$/,
  new RegExp(String.raw`${CREDENTIAL_NAME}\s*(?:[:=]\s*["']?${CREDENTIAL_VALUE}*)?$`, "i")
]
/** A private key's BEGIN line with no END line after it. */
const openKey = new RegExp(String.raw`${KEY_LINE("BEGIN")}(?![\s\S]*${KEY_LINE("END")})`)

/**
 * Where in `text` a whitespace-spanning secret may still be growing, or
 * undefined; `unbounded` when it is a private key, which is held to its END line
 * whatever its length.
 */
export const unfinishedAt = (text: string): { readonly at: number; readonly unbounded: boolean } | undefined => {
  const key = openKey.exec(text)
  if (key !== null) return { at: key.index, unbounded: true }
  let at: number | undefined
  for (const open of openAtEnd) {
    const m = open.exec(text)
    if (m !== null && (at === undefined || m.index < at)) at = m.index
  }
  return at === undefined ? undefined : { at, unbounded: false }
}
