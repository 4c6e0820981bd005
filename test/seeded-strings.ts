/**
 * Seeded strings for equivalence tests (a hand-written matcher against the regex
 * it replaces): `count` strings of up to `maxPieces` pieces drawn from `alphabet`.
 * The high bits of a linear congruential generator pick the pieces (its low bits
 * repeat quickly).
 */
export const seededStrings = (alphabet: ReadonlyArray<string>, count: number, seed: number, maxPieces = 13): Array<string> => {
  let state = seed
  const next = (n: number) => Math.floor(((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648) * n)
  return Array.from({ length: count }, () => {
    let text = ""
    for (let i = 0, n = next(maxPieces + 1); i < n; i++) text += alphabet[next(alphabet.length)]!
    return text
  })
}
