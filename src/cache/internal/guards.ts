/**
 * Guards the semantic cache applies after the similarity threshold: two questions
 * that an embedding finds close but that must not share an answer.
 *
 * - Polarity: a different count (parity) of negations ("not", "never", "n't",
 *   "without", ...), or opposite words of one pair ("on"/"off", "enable"/"disable",
 *   "add"/"remove", ...) — "turn on the lights" never answers "turn off the lights".
 * - Specifics: numbers, versions and identifiers (anything with a digit, an
 *   underscore, a dot inside a word, camelCase, code in backticks, or an acronym of
 *   two or more capitals) must be the same set in both — "the `from_blocks` method"
 *   never answers "the `from_tables` method", "in version 2.10" never answers
 *   "in version 2.9".
 *
 * - Order: the two sides of a relation word ("to", "from", "than", "into", "vs")
 *   swapped: "convert 5 miles to km" / "5 km to miles", "is a cat bigger than a
 *   dog" / "a dog bigger than a cat". Embeddings of bags of words cannot tell
 *   these apart. Other reorderings ("does Alice owe Bob" / "does Bob owe Alice")
 *   are not caught: word order alone is too often a paraphrase's only change.
 *
 * All are deliberately strict: a wrong hit serves an answer to another question,
 * a needless miss only costs a call.
 */

const negations = new Set([
  "not",
  "no",
  "never",
  "none",
  "nothing",
  "nobody",
  "nowhere",
  "neither",
  "nor",
  "without",
  "cannot",
  "cant",
  "dont",
  "doesnt",
  "didnt",
  "isnt",
  "arent",
  "wasnt",
  "werent",
  "wont",
  "wouldnt",
  "shouldnt",
  "couldnt",
  "hasnt",
  "havent",
  "hadnt",
  "mustnt",
  "neednt",
  "aint",
  "nein",
  "non",
  "pas",
  "nicht",
  "kein"
])

/** Pairs of opposite words: [group, side]. */
const opposites: ReadonlyArray<readonly [ReadonlyArray<string>, ReadonlyArray<string>]> = [
  [["on"], ["off"]],
  [["enable", "enabled", "enables", "enabling", "activate", "activated", "activates"], [
    "disable",
    "disabled",
    "disables",
    "disabling",
    "deactivate",
    "deactivated",
    "deactivates"
  ]],
  [["start", "starts", "started", "starting", "begin", "begins", "launch"], ["stop", "stops", "stopped", "stopping", "end", "ends", "halt"]],
  [["open", "opens", "opened", "opening"], ["close", "closes", "closed", "closing", "shut"]],
  [["lock", "locks", "locked", "locking"], ["unlock", "unlocks", "unlocked", "unlocking"]],
  [["add", "adds", "added", "adding", "insert", "inserts", "inserted", "append"], [
    "remove",
    "removes",
    "removed",
    "removing",
    "delete",
    "deletes",
    "deleted",
    "deleting",
    "drop",
    "drops"
  ]],
  [["include", "includes", "included", "including"], ["exclude", "excludes", "excluded", "excluding"]],
  [["increase", "increases", "increased", "raise", "raises", "grow"], ["decrease", "decreases", "decreased", "lower", "lowers", "shrink", "reduce", "reduces"]],
  [["allow", "allows", "allowed", "permit", "permits", "accept", "accepts", "approve", "grant"], [
    "deny",
    "denies",
    "denied",
    "block",
    "blocks",
    "blocked",
    "reject",
    "rejects",
    "forbid",
    "refuse",
    "revoke"
  ]],
  [["true"], ["false"]],
  [["yes"], ["no"]],
  [["up"], ["down"]],
  [["in"], ["out"]],
  [["before"], ["after"]],
  [["min", "minimum", "least", "smallest", "lowest"], ["max", "maximum", "most", "largest", "highest"]],
  [["more", "greater", "higher", "larger", "bigger"], ["less", "fewer", "smaller", "lesser"]],
  [["with"], ["without"]],
  [["show", "shows", "display", "unhide"], ["hide", "hides", "hidden"]],
  [["connect", "connects", "connected"], ["disconnect", "disconnects", "disconnected"]],
  [["install", "installs", "installed", "installing"], ["uninstall", "uninstalls", "uninstalled", "uninstalling"]],
  [["mount", "mounted"], ["unmount", "unmounted"]],
  [["encrypt", "encrypts", "encrypted", "encryption"], ["decrypt", "decrypts", "decrypted", "decryption"]],
  [["import", "imports", "imported"], ["export", "exports", "exported"]],
  [["upload", "uploads", "uploaded"], ["download", "downloads", "downloaded"]],
  [["buy", "buys", "bought", "purchase"], ["sell", "sells", "sold"]],
  [["positive"], ["negative"]],
  [["left"], ["right"]],
  [["first", "earliest", "oldest"], ["last", "latest", "newest"]],
  [["push", "pushes", "pushed"], ["pull", "pulls", "pulled"]],
  [["ascending", "asc"], ["descending", "desc"]],
  [["subscribe", "subscribed"], ["unsubscribe", "unsubscribed"]],
  [["follow", "follows"], ["unfollow", "unfollows"]],
  [["like", "likes"], ["dislike", "dislikes"]],
  [["win", "wins", "won"], ["lose", "loses", "lost"]],
  [["always"], ["never"]],
  [["can", "could"], ["cannot", "cant", "couldnt"]],
  [["should"], ["shouldnt"]],
  [["do", "does", "did"], ["dont", "doesnt", "didnt"]],
  [["is", "are", "was", "were"], ["isnt", "arent", "wasnt", "werent"]],
  [["safe", "secure"], ["unsafe", "insecure", "dangerous"]],
  [["valid"], ["invalid"]],
  [["public"], ["private"]],
  [["north"], ["south"]],
  [["east"], ["west"]],
  [["hot", "warm"], ["cold", "cool"]],
  [["day"], ["night"]],
  [["success", "succeed", "succeeded", "pass", "passed"], ["failure", "fail", "failed", "fails"]]
]

const sides = new Map<string, Array<readonly [number, 0 | 1]>>()
opposites.forEach(([a, b], group) => {
  for (const word of a) sides.set(word, [...(sides.get(word) ?? []), [group, 0]])
  for (const word of b) sides.set(word, [...(sides.get(word) ?? []), [group, 1]])
})

/**
 * The plain words of a text: code in backticks and identifiers (`disable_caching`)
 * are left to the specifics guard, hyphenated compounds (`no-code`) stay whole, and
 * an answer's leading "No," / "Yes," is an interjection, not a negation.
 */
const words = (text: string): ReadonlyArray<string> =>
  (text.normalize("NFKC").replace(/`[^`]*`/g, " ").replace(/^\s*(no|yes)\s*,/i, " ").toLowerCase().replace(/[’']/g, "")
    .match(/[\p{L}\p{N}_]+(?:[-.][\p{L}\p{N}_]+)*/gu) ?? []).filter((word) => !/[_.\-\d]/.test(word))

interface Polarity {
  readonly negations: number
  /** group → bitmask of the sides present (1 = first, 2 = second). */
  readonly groups: ReadonlyMap<number, number>
}

const polarityOf = (text: string): Polarity => {
  let count = 0
  const groups = new Map<number, number>()
  for (const word of words(text)) {
    // "n't" contractions arrive as "dont", "isnt", ... once apostrophes are removed.
    if (negations.has(word)) count++
    for (const [group, side] of sides.get(word) ?? []) groups.set(group, (groups.get(group) ?? 0) | (side === 0 ? 1 : 2))
  }
  return { negations: count, groups }
}

/** Whether two texts agree in polarity (same negation parity, no opposite words). */
export const samePolarity = (a: string, b: string): boolean => {
  const pa = polarityOf(a)
  const pb = polarityOf(b)
  if (pa.negations % 2 !== pb.negations % 2) return false
  for (const [group, maskA] of pa.groups) {
    const maskB = pb.groups.get(group)
    if (maskB !== undefined && maskA !== maskB) return false
  }
  return true
}

/** Numbers, versions, identifiers and acronyms of a text, normalized. */
export const specificsOf = (text: string): ReadonlySet<string> => {
  const out = new Set<string>()
  const normalized = text.normalize("NFKC")
  for (const code of normalized.match(/`[^`]+`/g) ?? []) out.add(code.slice(1, -1).toLowerCase())
  for (const token of normalized.replace(/`[^`]+`/g, " ").match(/[\p{L}\p{N}]+(?:[_.:/-][\p{L}\p{N}]+)*/gu) ?? []) {
    const specific = /\d/.test(token) || /_/.test(token) || /\p{L}\.\p{L}/u.test(token) || /\p{Ll}\p{Lu}/u.test(token) ||
      /^\p{Lu}{2,}s?$/u.test(token)
    // Only an acronym's lower-case plural folds ("GPUs" is "GPU"): an "s" that is
    // part of the name stays (HTTPS is not HTTP, CSS not CS; "1990s" is a decade).
    if (specific) out.add((/^\p{Lu}{2,}s$/u.test(token) ? token.slice(0, -1) : token).toLowerCase())
  }
  return out
}

/** Whether two texts name the same numbers and identifiers. */
export const sameSpecifics = (a: string, b: string): boolean => {
  const sa = specificsOf(a)
  const sb = specificsOf(b)
  if (sa.size !== sb.size) return false
  for (const item of sa) if (!sb.has(item)) return false
  return true
}

const relations = new Set(["to", "from", "than", "into", "onto", "vs", "versus", "per"])
const fillers = new Set(["a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "this", "that", "some", "one"])

interface Slot {
  readonly relation: string
  /** Where the relation word is. */
  readonly at: number
  /** The first content word after it. */
  readonly word: string
}

/** Each relation word with the first content word after it, in order: "to km", "than dog". */
const relationSlots = (ws: ReadonlyArray<string>): ReadonlyArray<Slot> => {
  const out: Array<Slot> = []
  for (let i = 0; i < ws.length; i++) {
    if (!relations.has(ws[i]!)) continue
    let j = i + 1
    while (j < ws.length && fillers.has(ws[j]!)) j++
    if (j < ws.length) out.push({ relation: ws[i]!, at: i, word: ws[j]! })
  }
  return out
}

/** Whether `word` is among the few words just before position `at`. */
const justBefore = (ws: ReadonlyArray<string>, at: number, word: string): boolean => {
  for (let i = Math.max(0, at - 4); i < at; i++) if (ws[i] === word) return true
  return false
}

/**
 * Whether two texts keep the two sides of a relation where they were: false when
 * what follows "to" / "than" / ... in one comes just before it in the other and
 * the other way round ("5 miles to km" / "5 km to miles"). Compared only when both
 * use the same relation words in the same order.
 */
export const sameOrder = (a: string, b: string): boolean => {
  const wa = words(a)
  const wb = words(b)
  const sa = relationSlots(wa)
  const sb = relationSlots(wb)
  if (sa.length !== sb.length || sa.some((slot, i) => sb[i]!.relation !== slot.relation)) return true
  for (let i = 0; i < sa.length; i++) {
    const x = sa[i]!
    const y = sb[i]!
    if (x.word !== y.word && justBefore(wa, x.at, y.word) && justBefore(wb, y.at, x.word)) return false
  }
  return true
}
