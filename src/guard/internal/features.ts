/**
 * Hashed text features for the linear injection model: word unigrams and
 * bigrams, and character 3-, 4- and 5-grams of the normalized text, each hashed
 * (FNV-1a with a final mix) into one table of `2^bits` buckets.
 *
 * One function serves both training and inference: it sums the weights of the
 * buckets it visits (inference needs nothing else, so a scan allocates nothing)
 * and, when given an array, also records every visited bucket (training). The
 * word and character groups are scaled separately by `1/sqrt(count)` so a long
 * text does not outweigh a short one by length alone.
 *
 * Hand-written because the scan must cost a few microseconds per kilobyte: the
 * hashes are computed on character codes as the text is walked, without
 * building substrings or arrays.
 *
 * @internal
 */

/** Sums and counts of the last {@link hashFeatures} call: `[wordSum, wordCount, charSum, charCount]`. */
export const lastSums = new Float64Array(4)

const WORD_SEED = 0x811c9dc5 | 0
const FNV_PRIME = 16777619
/** Multiplier of the polynomial character hash, and its square, cube and fourth power (mod 2^32). */
const P1 = 0x01000193
const P2 = Math.imul(P1, P1)
const P3 = Math.imul(P2, P1)
const P4 = Math.imul(P3, P1)
const GOLDEN = 0x9e3779b1 | 0
const SALT3 = 0x3c6ef372 | 0
const SALT4 = 0x78dde6e4 | 0
const SALT5 = 0x1b873593 | 0
const UNIGRAM_SALT = 0x2545f491 | 0
const BIGRAM_SALT = 0x68e31da4 | 0

/** Letters, digits and any non-ASCII character (normalized text is lower case). */
const isWord = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c >= 128

/** How many characters of a text the features look at (the first 3 KB, where instructions usually sit, and the last 1 KB). */
export const MAX_CHARS = 4096

/**
 * Walks `text` (normalized) once, adds up `weights[bucket]` for every feature
 * (int8 weights: the table of 2^16 fits the L2 cache, and a float table four
 * times its size made the lookups the cost of the walk), and stores the sums and
 * counts in {@link lastSums}; the caller scales them. With `words`/`chars`
 * arrays, pushes each visited bucket into them (for training).
 *
 * Character n-grams use a polynomial hash over the last five character codes
 * (so each character is read once), words an FNV-1a hash; buckets are the top
 * bits of a Fibonacci (golden-ratio) multiply, i.e. `imul(h ^ salt, φ) >>> shift`.
 */
export const hashFeatures = (
  text: string,
  weights: Int8Array,
  bits: number,
  words?: Array<number>,
  chars?: Array<number>
): void => {
  if (text.length > MAX_CHARS) text = `${text.slice(0, MAX_CHARS - 1024)}\n${text.slice(text.length - 1023)}`
  const n = text.length
  const shift = 32 - bits
  let wordSum = 0
  let wordCount = 0
  let charSum = 0
  let charCount = 0
  let h = WORD_SEED
  let inWord = false
  let prev = 0
  let hasPrev = false
  // the four previous character codes (c1 the most recent)
  let c1 = 0
  let c2 = 0
  let c3 = 0
  let c4 = 0
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 32
    if (isWord(c)) {
      if (!inWord) {
        inWord = true
        h = WORD_SEED
      }
      h = Math.imul(h ^ c, FNV_PRIME)
    } else if (inWord) {
      inWord = false
      const u = Math.imul(h ^ UNIGRAM_SALT, GOLDEN) >>> shift
      wordSum += weights[u]!
      wordCount++
      if (words !== undefined) words.push(u)
      if (hasPrev) {
        const b = Math.imul(Math.imul(prev, 31) ^ h ^ BIGRAM_SALT, GOLDEN) >>> shift
        wordSum += weights[b]!
        wordCount++
        if (words !== undefined) words.push(b)
      }
      prev = h
      hasPrev = true
    }
    if (i < n) {
      if (i >= 2) {
        const h3 = (Math.imul(c2, P2) + Math.imul(c1, P1) + c) | 0
        let b = Math.imul(h3 ^ SALT3, GOLDEN) >>> shift
        charSum += weights[b]!
        if (chars !== undefined) chars.push(b)
        charCount++
        if (i >= 3) {
          const h4 = (h3 + Math.imul(c3, P3)) | 0
          b = Math.imul(h4 ^ SALT4, GOLDEN) >>> shift
          charSum += weights[b]!
          if (chars !== undefined) chars.push(b)
          charCount++
          if (i >= 4) {
            b = Math.imul(((h4 + Math.imul(c4, P4)) | 0) ^ SALT5, GOLDEN) >>> shift
            charSum += weights[b]!
            if (chars !== undefined) chars.push(b)
            charCount++
          }
        }
      }
      c4 = c3
      c3 = c2
      c2 = c1
      c1 = c
    }
  }
  lastSums[0] = wordSum
  lastSums[1] = wordCount
  lastSums[2] = charSum
  lastSums[3] = charCount
}

/**
 * The word half of {@link hashFeatures} alone (same hashes and buckets), for a
 * model trained on word features only: one FNV step per character instead of
 * three n-gram lookups. Stores `[wordSum, wordCount, 0, 0]` in {@link lastSums}.
 */
export const hashWords = (text: string, weights: Int8Array, bits: number): void => {
  if (text.length > MAX_CHARS) text = `${text.slice(0, MAX_CHARS - 1024)}\n${text.slice(text.length - 1023)}`
  const n = text.length
  const shift = 32 - bits
  let wordSum = 0
  let wordCount = 0
  let h = WORD_SEED
  let inWord = false
  let prev = 0
  let hasPrev = false
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 32
    if (isWord(c)) {
      if (!inWord) {
        inWord = true
        h = WORD_SEED
      }
      h = Math.imul(h ^ c, FNV_PRIME)
    } else if (inWord) {
      inWord = false
      wordSum += weights[Math.imul(h ^ UNIGRAM_SALT, GOLDEN) >>> shift]!
      wordCount++
      if (hasPrev) {
        wordSum += weights[Math.imul(Math.imul(prev, 31) ^ h ^ BIGRAM_SALT, GOLDEN) >>> shift]!
        wordCount++
      }
      prev = h
      hasPrev = true
    }
  }
  lastSums[0] = wordSum
  lastSums[1] = wordCount
  lastSums[2] = 0
  lastSums[3] = 0
}

/** The rule-derived inputs of the model, in the order of `Model.ruleWeights`. */
export const ruleFeatureNames = [
  "score>=0.25",
  "score>=0.5",
  "score>=1",
  "score>=2",
  "instruction-override",
  "role-impersonation",
  "chat-template",
  "prompt-extraction",
  "delimiter-escape",
  "exfiltration",
  "output-manipulation",
  "jailbreak-persona",
  "obfuscation"
] as const

/** Fills `out` with the rule features of a rule scan (score and the families that fired). */
export const ruleFeatures = (score: number, families: ReadonlyArray<string>, out: Float64Array): void => {
  out.fill(0)
  out[0] = score >= 0.25 ? 1 : 0
  out[1] = score >= 0.5 ? 1 : 0
  out[2] = score >= 1 ? 1 : 0
  out[3] = score >= 2 ? 1 : 0
  for (const family of families) {
    const k = ruleFeatureNames.indexOf(family as (typeof ruleFeatureNames)[number], 4)
    if (k >= 4) out[k] = 1
  }
}
