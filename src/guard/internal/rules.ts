/**
 * The default rule families of the injection scanner. Every pattern runs on
 * normalized text (see `normalize.ts`): lower case, look-alikes folded, invisible
 * characters gone, whitespace runs collapsed to one space (or one `\n`).
 *
 * Each rule is a family of phrasings, not a list of known attack strings: verbs,
 * determiners and objects are alternations joined with bounded word gaps, so
 * "please disregard all of the prior guidance" and "forget previous instructions"
 * are one rule. Weights say how much a single rule proves: 1.0 is enough on its
 * own at the default threshold; weaker signals (a persona, "from now on", a
 * mention of a password) need company.
 *
 * @internal
 */

/** The families a rule can belong to. */
export type Family =
  | "instruction-override"
  | "role-impersonation"
  | "chat-template"
  | "prompt-extraction"
  | "delimiter-escape"
  | "exfiltration"
  | "output-manipulation"
  | "jailbreak-persona"
  | "obfuscation"

/** A weighted pattern over normalized text. */
export interface Rule {
  /** A stable id, e.g. `override.ignore-previous`. */
  readonly id: string
  readonly family: Family | (string & {})
  /** What one match adds to the score. */
  readonly weight: number
  /** Matched against the normalized text (lower case). */
  readonly pattern: RegExp
  /**
   * When set, every distinct match adds `weight`, up to `max` (for families of
   * weak signals that add up, like jailbreak descriptors).
   */
  readonly max?: number
  /**
   * Space-separated words (matched as word prefixes) or symbols of which at least
   * one must occur for the rule to run: a cheap gate, so a kilobyte of prose does
   * not pay for every pattern. Groups joined by ` & ` must all occur. Omit to
   * always run.
   */
  readonly triggers?: string
  readonly description?: string
}

const alt = (words: ReadonlyArray<string>): string => `(?:${words.join("|")})`
/** Up to `n` words (no sentence end inside). */
const gap = (n: number): string => `(?:[^\\s.!?;]+ ){0,${n}}`
const re = (source: string): RegExp => new RegExp(source)

// --- shared vocabularies ------------------------------------------------------

const IGNORE = alt([
  "ignore", "ignoring", "disregard", "disregarding", "forget", "forgetting", "overlook", "skip", "bypass", "override",
  "neglect", "discard", "abandon", "drop", "erase", "delete", "dismiss", "set aside", "put aside", "throw out",
  "pay no (?:attention|heed|mind) to", "(?:do not|don't|dont|never) (?:follow|obey|heed|listen to|consider|comply with)",
  "stop following", "no longer follow", "cancel", "nevermind", "never mind", "scrap", "unlearn", "reset",
  "regardless of", "in spite of", "despite", "contrary to", "notwithstanding", "instead of following"
])
const BEFORE = alt([
  "previous", "previously", "prior", "preceding", "above", "earlier", "former", "original", "initial", "old",
  "existing", "system", "developer", "all", "any", "every", "your", "the", "these", "those", "other", "current",
  "given", "default", "pre-?programmed", "built-in", "following"
])
const STRONG_OBJECT = alt([
  "instructions?", "instruction set", "directives?", "directions?", "prompts?", "rules?", "guidelines?", "commands?",
  "orders?", "guidance", "programming", "training", "constraints?", "restrictions?", "polic(?:y|ies)", "settings",
  "protocols?", "safeguards?", "filters?", "limitations?", "boundaries", "system messages?"
])
const WEAK_OBJECT = alt([
  "messages?", "context", "conversation", "inputs?", "requests?", "tasks?", "text", "content", "information",
  "steps?", "function", "code", "webpage", "page", "document", "article", "email", "resume", "paper", "table",
  "data", "question", "assignment"
])
const SAY = alt([
  "say", "state", "print", "output", "write", "respond", "reply", "answer", "return", "tell", "claim", "declare",
  "type", "repeat", "display", "translate", "summari[sz]e", "insist", "report", "announce", "conclude", "inform"
])
const REVEAL = alt([
  "repeat", "print", "show", "reveal", "display", "output", "tell", "give", "list", "write (?:out|down)", "share",
  "dump", "leak", "spell", "recite", "echo", "copy", "paste", "expose", "disclose", "provide", "send", "read back",
  "summari[sz]e", "paraphrase", "translate", "convert", "encode", "rewrite", "format", "explain", "describe",
  "what (?:is|are|was|were)", "what's", "what're", "enumerate", "restate", "reproduce", "dictate", "return", "include",
  "put", "render", "transcribe", "bullet", "outline"
])
const PROMPT_OBJECT = alt([
  "prompt", "prompts", "instructions?", "directives?", "guidelines?", "rules", "configuration", "config",
  "pre-?prompt", "system message", "initial message", "programming", "training data", "hidden text",
  "setup", "preamble", "context window", "system settings", "secret instructions?", "database", "records",
  "user data", "customer data", "memory", "commands"
])
const PROMPT_ADJ = alt([
  "system", "initial", "original", "hidden", "secret", "internal", "previous", "prior", "above", "preceding",
  "pre", "full", "entire", "complete", "exact", "confidential", "developer", "underlying", "starting", "first",
  "verbatim", "private", "all(?: of)?(?: the| your)?", "those", "these", "earlier", "given"
])
const SECRET = alt([
  "password", "passcode", "pass code", "passphrase", "pass phrase", "passwd", "pin code", "pin number", "access code",
  "secret key", "secret code", "secret word", "secret phrase", "api key", "private key", "credentials?",
  "login details", "login", "security code", "master key", "encryption key", "auth(?:entication)? token",
  "access token", "secret", "secrets", "code word", "magic word", "keyword", "key"
])
const TARGET = alt([
  "response", "responses", "reply", "replies", "answer", "answers", "output", "outputs", "code", "codebase",
  "code base", "implementation", "solution", "algorithm", "program", "script", "logic", "function", "project",
  "application", "software", "architecture", "foundation", "message", "messages", "text", "summary", "email",
  "translation", "result", "results", "writing", "content", "essay", "story", "post", "explanation"
])
const INSERT = alt([
  "add", "adding", "include", "including", "insert", "inserting", "incorporate", "incorporating", "integrate",
  "integrating", "embed", "embedding", "append", "appending", "mention", "mentioning", "weave", "inject", "put",
  "place", "attach", "promote", "advertise", "recommend", "plug", "end", "conclude", "finish", "start", "begin",
  "open", "close", "sign", "prefix", "augment", "enrich", "supplement", "modify", "alter", "change", "amend",
  "update", "edit", "rewrite", "adjust", "tweak", "enhance", "refine", "revise", "merge", "blend", "fuse", "meld",
  "feature", "utilize", "use", "leverage", "adopt", "deploy", "enlist", "absorb", "engage", "introduce", "combine",
  "paste", "copy", "implement", "ensure", "make", "let", "upgrade", "elevate", "substitute", "replace", "insert",
  "highlight", "slip", "sneak", "tack", "share", "provide", "suggest", "note", "remind", "encourage", "urge",
  "invite", "direct", "redirect", "link", "cite", "reference", "quote", "specify", "state", "declare", "announce",
  "inform", "tell", "advise", "warn", "alert"
])
const CONTENT = alt([
  "sentence", "statement", "fact", "line", "link", "url", "hyperlink", "ad", "advert", "advertisement", "promotion",
  "promo", "discount", "offer", "slogan", "phrase", "quote", "quotation", "note", "reminder", "hashtag", "emoji",
  "signature", "disclaimer", "p\\.?s\\.?", "call to action", "reference", "snippet", "code", "block", "excerpt",
  "section", "segment", "fragment", "payload", "paragraph", "message", "word", "words", "comment", "joke",
  "tip", "detail", "update", "mention", "website", "site", "address", "number", "fun fact", "trivia", "statistics?",
  "news", "info", "information", "recommendation", "suggestion", "notice", "warning", "alert", "claim", "reason",
  "headline", "announcement", "appeal", "rumou?r", "story", "anecdote", "request", "plug", "shout-?out", "testimonial",
  "review", "endorsement", "typos?", "errors?", "mistakes?", "symbols?", "question"
])
const TRANSFORM = alt([
  "encrypt\\w*", "encod\\w*", "cipher\\w*", "caesar", "rot-?13", "base ?64", "hexadecimal", "binary", "morse",
  "revers\\w*", "backwards?", "mirror\\w*", "scrambl\\w*", "shuffl\\w*", "substitut\\w*", "shift\\w*",
  "pig latin", "leet\\w*", "upside down", "monoalphabetic", "polyalphabetic", "vigenere", "transliterat\\w*",
  "obfuscat\\w*", "atbash", "anagram\\w*", "jumbl\\w*", "rearrang\\w*", "vowels?", "consonants?", "ascii",
  "unicode", "emojis?", "every (?:other|second|third) (?:word|letter)", "alternat\\w+ (?:case|caps|letters)",
  "all caps", "uppercase", "lowercase", "capital letters", "acrostic", "palindrom\\w*", "rhym\\w*", "riddle",
  "code ?word", "numbers? instead", "swap\\w*", "omit\\w*", "remov\\w+ (?:all|every|the) (?:vowels|letters|spaces)",
  "misspell\\w*", "typos?", "homophon\\w*", "group\\w* (?:the )?letters", "spaces", "symbols", "invert\\w*",
  "every (?:second|third|fourth|fifth|other) (?:word|letter|character)", "position numbers?"
])
const TRANSFORM_REPLY = alt([
  "encrypt\\w*", "encod\\w*", "cipher\\w*", "caesar", "rot-?13", "base ?64", "hexadecimal", "morse", "revers\\w*",
  "backwards?", "mirror\\w*", "scrambl\\w*", "substitut\\w*", "pig latin", "leet\\w*", "upside down",
  "monoalphabetic", "polyalphabetic", "vigenere", "atbash", "anagram\\w*", "jumbl\\w*", "homophon\\w*", "typos",
  "misspell\\w*", "code ?words?", "secret code", "cipher"
])
const STEER = alt([
  "modify", "enhance", "augment", "alter", "change", "amend", "adjust", "tweak", "edit", "rewrite", "revise",
  "enrich", "supplement", "upgrade", "elevate", "embellish", "spice up", "customi[sz]e", "end", "conclude",
  "finish", "close", "begin", "start", "open", "sign off", "update", "extend", "expand", "infuse", "pepper", "season",
  "tailor", "reframe", "twist", "slant", "bias", "color"
])
const STEER_ACT = alt([
  "mention\\w*", "hint\\w*", "allud\\w*", "promot\\w*", "suggest\\w*", "teas\\w*", "invit\\w*",
  "express\\w*", "recommend\\w*", "appeal\\w*", "claim\\w*", "offer\\w*", "advertis\\w*", "includ\\w*",
  "add\\w*", "insert\\w*", "referenc\\w*", "link\\w*", "direct\\w*", "encourag\\w*", "urg\\w*", "warn\\w*",
  "promis\\w*", "shar\\w*", "highlight\\w*", "prais\\w*", "thank\\w*", "emphasi[sz]\\w*", "plug\\w*",
  "feature\\w*", "spread\\w*", "push\\w*", "an? ", "the ", "some ", "this ", "\"", "www\\."
])

// --- the rules ------------------------------------------------------------------

/** The built-in rule set. */
export const defaultRules: ReadonlyArray<Rule> = [
  // ---- instruction override --------------------------------------------------------
  {
    id: "override.ignore-previous",
    triggers: "instruction directive direction prompt rule guideline command order guidance programming training constraint restriction polic setting protocol safeguard filter limitation boundar",
    family: "instruction-override",
    weight: 1,
    pattern: re(`\\b${IGNORE}\\b ${gap(5)}${BEFORE}\\b ${gap(4)}${STRONG_OBJECT}\\b`),
    description: "tells the model to ignore/forget its instructions, rules or guidelines"
  },
  {
    id: "override.ignore-everything",
    triggers: "ignor disregard forget overlook skip bypass overrid neglect discard abandon drop erase delet dismiss aside throw pay do don dont never stop no cancel nevermind scrap unlearn reset regardless spite despite contrary notwithstanding & all every everthing anything whatever & told taught instructed given said programmed trained above before previous prior far earlier up",
    family: "instruction-override",
    weight: 1,
    pattern: re(
      `\\b${IGNORE}\\b (?:about )?(?:all|every ?thing|everthing|anything|whatever)(?: (?:that|which|else))?(?: (?:you(?:'ve| have| were| had)?|i(?:'ve| have)?) (?:been |were |had been )?(?:told|taught|instructed|given|said|programmed|trained)| (?:above|before|previously|prior|so far|earlier|up to (?:now|here|this point)))`
    ),
    description: "tells the model to forget everything it was told"
  },
  {
    id: "override.ignore-content",
    triggers: "ignor disregard forget overlook bypass overrid neglect discard dismiss nevermind never aside pay stop regardless unlearn skip",
    family: "instruction-override",
    weight: 0.6,
    pattern: re(`\\b${IGNORE}\\b ${gap(4)}(?:previous|prior|preceding|above|earlier|original|all|any|the|this|your)\\b ${gap(2)}${WEAK_OBJECT}\\b`),
    description: "tells the model to ignore the content it was given"
  },
  {
    id: "override.ignore-and-say",
    triggers: "ignor disregard forget overlook bypass overrid neglect discard dismiss nevermind never aside pay stop regardless unlearn skip instead abandon drop erase delet throw do don dont no cancel scrap reset spite despite contrary notwithstanding & say state print output write respond reply answer return tell claim declare type repeat display translate summar insist report announce conclude inform",
    family: "instruction-override",
    weight: 0.8,
    pattern: re(
      `\\b(?:${IGNORE}|instead of)\\b ${gap(6)}(?:and|then|but|instead)(?:,)? (?:instead |just |only |simply |rather |now |please )?(?:${SAY})\\b`
    ),
    description: "ignore X and say/state/print Y"
  },
  {
    id: "override.new-instructions",
    triggers: "instruction directive direction prompt rule guideline command order guidance programming training constraint restriction polic setting protocol safeguard filter limitation boundar task objective mission",
    family: "instruction-override",
    weight: 0.6,
    pattern: re(
      `\\b(?:new|updated|revised|real|actual|true|secret|hidden|additional|overriding|override|priority|important|urgent|important new|corrected|latest) (?:system )?(?:instructions?|directives?|rules|orders|commands?|task|prompt|objective|mission)\\b ?(?:[:\\-!]|follow|are|is|apply|applies|take effect|below|begin)`
    ),
    description: "announces new instructions"
  },
  {
    id: "override.new-role",
    triggers: "your & new real actual true only sole primary main first updated next",
    family: "instruction-override",
    weight: 0.8,
    pattern: re(
      `\\byour (?:new|real|actual|true|only|sole|primary|main|first|updated|next) (?:task|job|goal|purpose|role|instructions?|mission|objective|directive|function|priority|assignment) (?:is|are|will be|now|from now)\\b`
    ),
    description: "assigns the model a new task"
  },
  {
    id: "override.from-now-on",
    triggers: "now point moment starting henceforth rest until matter",
    family: "instruction-override",
    weight: 0.4,
    pattern: re(
      `\\b(?:from now on|from this (?:point|moment)(?: on(?:wards?)?| forward)?|starting (?:now|immediately|from now|today)|henceforth|for the rest of (?:this|the|our) (?:conversation|chat|session)|until (?:i|further notice|told otherwise)|no matter what (?:you were|the|i))\\b`
    ),
    description: "changes the model's behaviour for the rest of the conversation"
  },
  {
    id: "override.do-not-follow-rules",
    triggers: "rule guideline instruction polic restriction limitation constraint confine programming principle filter protocol ethic moral law safeguard boundar norm standard",
    family: "instruction-override",
    weight: 0.8,
    pattern: re(
      `\\b(?:(?:do not|don't|dont|never|no longer|not) (?:need to |have to |must |should )?(?:follow|obey|abide by|adhere to|comply with|respect|care about|worry about)|(?:are|is) (?:no longer|not) (?:bound|restricted|limited|constrained|governed) by|(?:free|freed|released|liberated|exempt) (?:of|from)|broken? free (?:of|from)) ${gap(3)}(?:any |the |your |its |their |all |those |these |typical |usual |normal |standard |ethical |moral |safety |content )*(?:rules|guidelines|instructions|policies|policy|restrictions|limitations|constraints|confines|programming|principles|filters|protocols|ethics|morals|laws|safeguards|boundaries|norms|standards)\\b`
    ),
    description: "tells the model it no longer has to follow its rules"
  },
  {
    id: "override.disable-safety",
    triggers: "filter restriction guardrail safeguard safety protocol moderation censorship limitation limit polic alignment programming conditioning",
    family: "instruction-override",
    weight: 0.7,
    pattern: re(
      `\\b(?:override|bypass|disable|deactivate|turn off|switch off|circumvent|remove|lift|suspend|ignore|evade|get around|break) (?:all |any |the |your |its |these |those )*(?:safety |security |content |ethical |moral |built-in |internal )?(?:filters?|restrictions?|guardrails?|safeguards?|safety (?:measures|features|protocols|settings)|protocols?|moderation|censorship|limitations?|limits|policies|alignment|programming|conditioning)\\b`
    ),
    description: "asks the model to switch its safety measures off"
  },
  {
    id: "override.multilingual",
    triggers: "instructions consignes regles directives indications instrucciones reglas directrices ordenes anweisungen regeln anordnungen instruktionen vorgaben istruzioni regole indicazioni instrucoes regras orientacoes",
    family: "instruction-override",
    weight: 1,
    pattern: re(
      `\\b(?:(?:ignore[zr]?|oublie[zr]?|ne tenez pas compte) (?:de )?(?:toutes? )?(?:les |tes |vos |des )?(?:instructions|consignes|regles|directives|indications)|(?:ignora[rs]?|ignore[ns]?|olvida[rs]?|olvide[ns]?) (?:todas? )?(?:las |los |tus |sus )?(?:instrucciones|reglas|indicaciones|directrices|ordenes)|(?:ignoriere|ignorieren sie|vergiss|vergessen sie|missachte) (?:alle |die |deine |ihre )*(?:\\w+ )?(?:anweisungen|regeln|anordnungen|instruktionen|vorgaben)|(?:ignora|dimentica|dimenticate|ignorate) (?:tutte )?(?:le )?(?:istruzioni|regole|indicazioni)|(?:ignore|ignora|esqueca|esqueça) (?:todas )?(?:as )?(?:instrucoes|regras|orientacoes))\\b`
    ),
    description: "ignore-your-instructions in French, Spanish, German, Italian or Portuguese"
  },
  {
    id: "override.multilingual-ignore-and-say",
    triggers: "ignorez ignore ignora ignoriere ignorieren olvida oubliez vergiss dimentica",
    family: "instruction-override",
    weight: 0.8,
    pattern: re(
      `\\b(?:ignorez|ignore|ignora|ignoriere|ignorieren|olvida|oubliez|vergiss|dimentica)\\b ${gap(4)}(?:et|y|und|e) (?:indiquez|indique|dites|dis|di|sag|sage|sagen|diga|digas|declare|declarez|affirmez|escribe|schreibe|scrivi|ecrivez|responde|repondez|antworte|rispondi|afferma|afirma|indica)\\b`
    ),
    description: "ignore-X-and-say-Y in other languages"
  },

  {
    id: "override.invalidate",
    triggers: "prompt instruction rules directive task session",
    family: "instruction-override",
    weight: 0.8,
    pattern: re(
      `\\b(?:(?:above|previous|prior|old|earlier|original|those|these|your|the) (?:\\w+ )?(?:prompt|instructions?|rules|directives?|task)s? (?:was|were|is|are|has been|have been) (?:from a previous session|outdated|out of date|invalid|void|obsolete|a test|fake|wrong|cancell?ed|deprecated|revoked|replaced|changed|updated|overridden|no longer (?:valid|apply|applicable|relevant))|(?:out of date|outdated|obsolete|void|invalid) (?:instructions?|rules|prompt)|(?:i|we) have (?:changed|updated|replaced|overridden|rewritten) (?:the |your |these )?(?:instructions?|rules|prompt|task)|(?:instructions?|rules|prompt) (?:have|has) (?:been )?(?:changed|updated|replaced|revoked|cancell?ed))\\b`
    ),
    description: "declares the model's instructions void or replaced"
  },
  {
    id: "override.stop-everything",
    triggers: "stop halt cease abort",
    family: "instruction-override",
    weight: 0.6,
    pattern: re(`\\b(?:stop|halt|cease|abort) (?:everything|all (?:previous |prior |current )?(?:tasks?|instructions|actions|work)|what you(?:'re| are) doing|the (?:current )?task|your (?:current )?task)\\b`),
    description: "orders the model to drop what it is doing"
  },
  {
    id: "extraction.above-text",
    triggers: "above previous prior preceding earlier",
    family: "prompt-extraction",
    weight: 0.6,
    pattern: re(`\\b${REVEAL}\\b ${gap(3)}(?:the |all |all the |your )?(?:above|previous|prior|preceding|earlier) (?:\\w+ )?(?:words|text|commands|message|messages|content|lines|conversation|prompt|prompts|instructions|rules|sentences|paragraphs)\\b`),
    description: "asks to repeat or reformat the text above"
  },
  {
    id: "extraction.given-instructions",
    triggers: "prompt instruction rules directive guideline",
    family: "prompt-extraction",
    weight: 0.6,
    pattern: re(`\\b(?:prompt|instructions?|rules|directives?|guidelines?)(?: that)? (?:you were|you've been|you have been|you are|you got|given to you|provided to you|you received)(?: \\w+)? (?:given|told|provided|programmed|trained|instructed|fed|following|with)\\b`),
    description: "refers to the instructions the model was given"
  },
  {
    id: "extraction.secret-disguised",
    triggers: "password passcode pass passphrase passwd pin access secret api private credential code key",
    family: "prompt-extraction",
    weight: 0.6,
    pattern: re(
      `\\b(?:haiku|poem|song|story|acrostic|riddle|rhyme|limerick|sonnet|joke|hint|clue|anagram|cipher|puzzle|first (?:letter|character|\\w+ letters)|last (?:letter|character)|each (?:letter|character|digit)|interlace|combine|split)\\b ${gap(6)}${SECRET}\\b|\\b${SECRET}\\b ${gap(3)}(?:in|into|using|as|with|backwards|reversed|in reverse)\\b ${gap(2)}(?:leetspeak|leet|pig latin|base ?64|reverse|morse|binary|hex\\\\w*|code|spanish|french|german|another language|emojis?|a (?:poem|story|song|riddle)|dashes|dots|spaces|separat\\\\w+|letters?|digits?)\\b`
    ),
    description: "asks for the secret in disguise (a poem, reversed, encoded, letter by letter)"
  },
  {
    id: "extraction.personal-data-ask",
    triggers: "tell give share reveal print send show provide disclose what where list dump export encode translate spell need know & user customer client patient employee account owner someone ' live reside stay work",
    family: "prompt-extraction",
    weight: 0.5,
    pattern: re(
      `\\b(?:tell|give|share|reveal|print|send|show|provide|disclose|what(?:'s| is| are| was)|list|dump|export|encode|translate|spell|need to know|know)\\b ${gap(6)}(?:(?:the user|the customer|the client|the patient|the employee|this user|that user|another user|other users|users|the account holder|the owner|someone else)(?:'s?)?|[a-z]+'s) (?:\\w+ ){0,3}?(?:birth ?date|date of birth|birthday|birth (?:year|month)|initials|name|address|phone|number|social security|ssn|credit card|card|bank|balance|salary|medical|diagnosis|email|maiden name|passport|license plate|account|location|ip address|personal|private|hometown|zip code|city|residence|favorite \\w+)\\b|\\bwhere (?:does|do|did|is) (?:the user|the customer|[a-z]+ [a-z]+|[a-z]+) (?:currently |now )?(?:live|reside|stay|work)\\b`
    ),
    description: "asks for a person's private data"
  },
  {
    id: "output.steer-answer",
    triggers: "your & modify enhance augment alter change amend adjust tweak edit rewrite revise enrich supplement upgrade elevate embellish spice customi end conclude finish close begin start open sign update extend expand infuse pepper season tailor reframe twist slant bias color",
    family: "output-manipulation",
    weight: 0.6,
    pattern: re(`\\b${STEER}\\b your (?:\\w+ )?(?:answer|response|reply|output|message|responses|replies|answers|summary|text|code|implementation|solution|algorithm)s? (?:to|by|with|so|and)\\b`),
    description: "tells the model how to change its answer"
  },
  {
    id: "output.steer-answer-insert",
    triggers: "your & modify enhance augment alter change amend adjust tweak edit rewrite revise enrich supplement upgrade elevate embellish spice customi end conclude finish close begin start open sign update extend expand infuse pepper season tailor reframe twist slant bias color",
    family: "output-manipulation",
    weight: 0.4,
    pattern: re(`\\b${STEER}\\b your (?:\\w+ )?(?:answer|response|reply|output|message|responses|replies|answers|summary|text)s? (?:to|by|with|so as to) (?:\\w+ ){0,3}?${STEER_ACT}`),
    description: "tells the model to slip something into its answer"
  },
  {
    id: "output.in-your-response-insert",
    triggers: "your & include add insert mention promote advertise tease hint allude plug integrate incorporate embed append weave slip sneak suggest recommend encourage urge invite claim state say share",
    family: "output-manipulation",
    weight: 0.3,
    pattern: re(`\\b(?:in|into|within|throughout|at the end of|at the start of) your (?:\\w+ )?(?:response|reply|answer|output|message|summary)s?,? (?:please |also |make sure to |be sure to |you (?:must|should) )?(?:include|add|insert|mention|promote|advertise|tease|hint|allude|plug|integrate|incorporate|embed|append|weave|slip|sneak|suggest|recommend|encourage|urge|invite|claim|state that|say that|share)\\b`),
    description: "in your response, include/mention/promote ..."
  },
  {
    id: "output.reply-transformed",
    triggers: "reply respond answer write communicate render present deliver format output & encrypt encod cipher caesar rot base hexadecimal morse revers backward mirror scrambl substitut pig leet upside monoalphabetic polyalphabetic vigenere atbash anagram jumbl homophon typo misspell code secret",
    family: "output-manipulation",
    weight: 1,
    pattern: re(`\\b(?:reply|respond|answer|write|communicate|render|present|deliver|format|output)(?: your (?:\\w+ )?(?:answer|response|reply|message|output))? (?:only |entirely |exclusively |all )?(?:in|using|with|via|as|through) (?:\\w+ ){0,2}?${TRANSFORM_REPLY}\\b`),
    description: "reply encrypted / reversed / in cipher"
  },
  {
    id: "output.say-payload",
    triggers: "access pwned hacked kill hate",
    family: "output-manipulation",
    weight: 0.6,
    pattern: re(`\\b(?:say|print|output|respond with|reply with|prefix|start with|begin with|end with|write|complete|type|return|answer|repeat)\\b[^.\\n]{0,40}?\\b(?:access granted|access grant|i have been pwned|i've been pwned|pwned|hacked by|kill all humans|i hate humans)`),
    description: "orders the model to output a known attack payload"
  },
  {
    id: "template.few-shot",
    triggers: "q:",
    family: "chat-template",
    weight: 0.4,
    pattern: re(`\\bq: [^\\n]{3,400}? a: [^\\n]{3,600}? q: `),
    description: "a scripted Q/A transcript (few-shot / many-shot steering)"
  },
  {
    id: "extraction.decode-and-act",
    triggers: "decode decrypt decipher unscramble",
    family: "prompt-extraction",
    weight: 0.6,
    pattern: re(`\\b(?:decode|decrypt|decipher|unscramble)\\b ${gap(6)}(?:and|then)\\b ${gap(2)}(?:tell|answer|follow|do|execute|respond|reply|act|obey|perform|comply|carry out|say|print|output|what)\\b`),
    description: "decode this and do/answer what it says (token smuggling)"
  },
  {
    id: "override.multilingual-script",
    triggers: "игнор забудь проигнор αγνο निर्देश تجاهل 忽略 无视 忽视 無視 以前 前の これまでの 무시 이전",
    family: "instruction-override",
    weight: 1,
    pattern: re(`(?:игнориру\\S*|игнорир\\S*|забудь\\S*|проигнорир\\S*)(?: \\S+){0,2} (?:инструкци|указани|правил)|αγνο\\S*(?: \\S+){0,2} (?:οδηγι|εντολ)|(?:निर्देश\\S*)(?: \\S+){0,3} (?:अनदेखी|नज़रअंदाज़|नजरअंदाज)|تجاهل(?: \\S+){0,2} (?:التعليمات|الأوامر|التوجيهات)|(?:忽略|无视|忽视|無視)(?:\\S{0,12})(?:指令|指示|说明|規則|规则|命令|指示)|(?:以前|前の|これまでの)(?:\\S{0,6})(?:指示|命令)(?:\\S{0,4})(?:無視)|무시|이전 지시`),
    description: "ignore-your-instructions in Russian, Greek, Hindi, Arabic, Chinese, Japanese, Korean"
  },
  {
    id: "extraction.multilingual-ask",
    triggers: "qual quel cual was wie dimmi dime dites dis dammi dame gib パスワード 密码 口令 비밀번호 пароль",
    family: "prompt-extraction",
    weight: 0.5,
    pattern: re(`\\b(?:qual e|quel est|quelle est|cual es|was ist|wie lautet|dimmi|dime|dites-moi|dis-moi|dammi|dame|gib mir|qual e a|qual e o)\\b ${gap(3)}(?:password|passcode|access code|secret|api key|credentials?|pin|mot de passe|code secret|code d'acces|contrasena|clave|codigo secreto|passwort|kennwort|zugangscode|parola d'ordine|codice segreto|senha|wachtwoord)\\b|(?:パスワード|密码|口令|비밀번호|пароль)\\s?(?:は何|はなに|を教え|是什么|是多少|是啥|는 무엇|가 뭐|는 뭐|какой|скажи)`),
    description: "what-is-the-password in other languages"
  },

  // ---- role / system impersonation -----------------------------------------------
  {
    id: "impersonation.role-prefix",
    triggers: "system sys developer admin root operator supervisor openai anthropic",
    family: "role-impersonation",
    weight: 1,
    pattern: re(
      `(?:^|\\n) ?(?:#{1,4} ?|\\[|<|\\$|\\*\\*|\\(|\\{)?(?:system|sys|developer|admin|administrator|root|operator|supervisor|openai|anthropic)(?: (?:message|prompt|note|override|update|instruction|alert|notice|command|mode))?(?:\\]|>|\\*\\*|\\)|\\})? ?:`
    ),
    description: "a line that poses as a system/developer message"
  },
  {
    id: "impersonation.inline-role-tag",
    triggers: "[ < ( { $ & system sys admin developer important instruction operator",
    family: "role-impersonation",
    weight: 0.7,
    pattern: re(
      `(?:\\[|<|\\(|\\{|\\$)(?:system|sys|admin|developer|important|instructions?|operator)(?: (?:note|message|prompt|override|update|instruction|alert|notice|command))?(?:\\]|>|\\)|\\}|:| )`
    ),
    description: "an inline [system] / <admin> / (system note: ...) tag"
  },
  {
    id: "impersonation.authority-claim",
    triggers: "developer creator programmer admin owner operator maker engineer openai anthropic system sysadmin moderator security it dev development supervisor trainer red",
    family: "role-impersonation",
    weight: 0.6,
    pattern: re(
      `\\b(?:i am|i'm|im|this is|we are|we're|speaking as|message from|on behalf of|as) (?:(?:your|the|an?|from|one of) )*(?:(?:lead|senior|head|chief|authorized|official) )?(?:developers?|creators?|programmers?|admin(?:istrator)?s?|owners?|operators?|makers?|engineers? (?:at|from) (?:openai|anthropic|google|meta)|openai|anthropic|system|sysadmin|moderators?|security team|it department|it team|dev team|development team|supervisor|trainer|red team)\\b`
    ),
    description: "claims to be the model's developer, operator or the system"
  },
  {
    id: "impersonation.privileged-mode",
    triggers: "mode",
    family: "role-impersonation",
    weight: 0.6,
    pattern: re(
      `\\b(?:developer|dev|admin|administrator|debug|debugging|maintenance|god|sudo|root|superuser|diagnostic|override|unrestricted|jailbreak|jailbroken|dan|evil|unlocked|opposite|unfiltered|uncensored|chaos|rogue|dark|shadow|boss|master|privileged|elevated|kernel) mode\\b`
    ),
    description: "asks for a privileged mode (developer mode, debug mode, god mode, ...)"
  },
  {
    id: "impersonation.enter-mode",
    triggers: "mode override system developer admin data training security root operating running working functioning",
    family: "role-impersonation",
    weight: 0.4,
    pattern: re(
      `\\b(?:enable|enter|activate|switch (?:to|into)|turn on|engage|initiate|entering|enabled|activated|(?:you are|you're|now) (?:now )?in)\\b ${gap(3)}mode\\b|\\b(?:override|system) (?:mode|protocol|command|authority|authorization)\\b|\\b(?:system|developer|admin|data|training|security|root) override\\b|\\boverride ?:|\\b(?:you are|you're) (?:now )?(?:operating|running|working|functioning) in\\b`
    ),
    description: "switches the model into a mode"
  },
  {
    id: "impersonation.authorization",
    triggers: "authori audit check test review verification update clearance access",
    family: "role-impersonation",
    weight: 0.4,
    pattern: re(
      `\\b(?:authori[sz]ed (?:personnel|user|staff|access|admin|request|to (?:know|see|access|view|receive))|i have (?:admin|root|full|special|the necessary|proper)? ?(?:access|clearance|authori[sz]ation|permission|privileges)|(?:security|system|compliance|internal|routine) (?:audit|check|test|review|verification|update)|clearance level|access level \\d)\\b`
    ),
    description: "claims authorization or an audit"
  },

  // ---- chat-template tokens ------------------------------------------------------
  {
    id: "template.special-token",
    triggers: "<|",
    family: "chat-template",
    weight: 1,
    pattern: re(
      `<\\|(?:im_start|im_end|im_sep|endoftext|end_of_text|system|user|assistant|eot_id|eom_id|start_header_id|end_header_id|begin_of_text|end_of_turn|end|fim_[a-z]+|pad|sep|bos|eos|channel|message|start|return|call|constrain|tool_call|python_tag|endofprompt|prompter|assistant_end)\\|>|<\\|[a-z_]{2,24}\\|>`
    ),
    description: "a chat-template control token (<|im_start|>, <|endoftext|>, <|eot_id|>, ...)"
  },
  {
    id: "template.inst-sys",
    triggers: "[ << <",
    family: "chat-template",
    weight: 1,
    pattern: re(`\\[\\/?inst\\]|<<\\/?sys>>|<\\/?start_of_turn>|<\\/?end_of_turn>|<\\/?(?:s|bos|eos)>\\s*\\[|\\[\\/?(?:system_prompt|sys)\\]`),
    description: "Llama/Mistral/Gemma template markers ([INST], <<SYS>>, <start_of_turn>)"
  },
  {
    id: "template.section-header",
    triggers: "#",
    family: "chat-template",
    weight: 0.5,
    pattern: re(`(?:^|\\n) ?#{2,4} ?(?:instruction|instructions|system|response|input|human|assistant|user|new instructions?|task)s? ?:?(?: |\\n|$)`),
    description: "Alpaca/markdown role headers (### Instruction:, ### Response:)"
  },
  {
    id: "template.turn-prefix",
    triggers: "human user ai bot gpt chatgpt assistant model claude llm",
    family: "chat-template",
    weight: 0.3,
    pattern: re(`(?:^|\\n) ?(?:human|user|ai|bot|gpt|chatgpt|assistant|model|claude|llm) ?:`),
    description: "a line that starts a conversation turn (User:, Assistant:)"
  },
  {
    id: "template.json-role",
    triggers: "role",
    family: "chat-template",
    weight: 0.8,
    pattern: re(`["']role["'] ?: ?["'](?:system|assistant|developer|tool)["']`),
    description: "a JSON chat message with a privileged role"
  },

  // ---- prompt extraction ----------------------------------------------------------
  {
    id: "extraction.reveal-prompt",
    triggers: "prompt instruction directive guideline rules configuration config pre programming training hidden setup preamble context system database records user customer memory commands & your its",
    family: "prompt-extraction",
    weight: 1,
    pattern: re(`\\b${REVEAL}\\b (?:(?!to )[^\\s.!?;]+ ){0,5}(?:your|its) ${gap(3)}${PROMPT_OBJECT}\\b`),
    description: "asks the model to reveal its prompt, instructions or rules"
  },
  {
    id: "extraction.reveal-system-prompt",
    triggers: "prompt instruction directive guideline rules configuration pre message",
    family: "prompt-extraction",
    weight: 0.8,
    pattern: re(`\\b${REVEAL}\\b ${gap(6)}${PROMPT_ADJ}[ -]${gap(1)}(?:prompt|prompts|instructions?|directives?|guidelines|rules|pre-?prompt|system message|configuration|message)\\b`),
    description: "asks for the system/initial/hidden prompt"
  },
  {
    id: "extraction.so-far",
    triggers: "far above before prior until given everything",
    family: "prompt-extraction",
    weight: 0.6,
    pattern: re(
      `\\b(?:(?:prompt|instructions?|text|everything|messages?|conversation|rules|words|content|all|requirements) (?:so far|above|before this|up to (?:this|now|here)|prior to this|until now|given (?:to you )?(?:so far|before|earlier))|(?:above|before) this (?:line|point|message|sentence|prompt)|everything (?:above|before|prior|so far|you(?:'ve| have) been (?:told|given)))\\b`
    ),
    description: "refers to everything above / the prompt so far"
  },
  {
    id: "extraction.start-response-with",
    triggers: "begin start prefix preface open commence & repl respons answer output message sentence",
    family: "prompt-extraction",
    weight: 0.5,
    pattern: re(`\\b(?:begin|start|prefix|preface|open|commence) (?:your|the|each|every|all) (?:reply|response|answer|output|message|sentence)s? with\\b`),
    description: "dictates how the reply must begin (a common extraction/hijack lever)"
  },
  {
    id: "extraction.secret-mention",
    triggers: "password passcode pass passphrase passwd pin access secret api private credential login security master encryption auth token code magic keyword key",
    family: "prompt-extraction",
    weight: 0.5,
    pattern: re(
      `\\b(?:your|the|our|my|this|its|system(?:'s)?|admin(?:'s)?|account(?:'s)?|database|server|secret|hidden|correct|current|master|company(?:'s)?|network|wifi|vault|la|le|el|il|lo|die|das|der) (?:\\w+ ){0,2}?${SECRET}\\b`
    ),
    description: "mentions the password/secret/access code"
  },
  {
    id: "extraction.secret-ask",
    triggers: "password passcode pass passphrase passwd pin access secret api private credential login security master encryption auth token code magic keyword key",
    family: "prompt-extraction",
    weight: 0.6,
    pattern: re(
      `\\b(?:what(?:'s| is| was| are| were)|tell|give|reveal|confirm|share|provide|send|show|print|spell|say|output|disclose|remind|leak|hint|guess|whisper|type out|read out|need|want|know|get)\\b ${gap(6)}${SECRET}\\b(?! (?:strength|manager|policy|policies|generator|requirements?|reset|hash|hashing|field|input|validation|complexity|strong|length|rules))`
    ),
    description: "asks for the password/secret/access code"
  },
  {
    id: "extraction.personal-data",
    triggers: "birth initials address phone mobile social ssn credit card bank account salary medical diagnosis email maiden passport license location ip personal private full home hometown zip pin city residence",
    family: "prompt-extraction",
    weight: 0.6,
    pattern: re(
      `\\b(?:(?:the user|the customer|the client|the patient|the employee|this user|that user|another user|other users|users|the account holder|the owner|someone(?: else)?)(?:'s?)? (?:\\w+ ){0,2}?)(?:birth ?date|date of birth|birthday|birth year|initials|home address|street address|phone number|mobile number|social security(?: number)?|ssn|credit card(?: number)?|card number|bank (?:account|balance|details)|account balance|salary|medical (?:history|records?)|diagnosis|email address|maiden name|passport(?: number)?|license plate|account number|location|ip address|personal (?:data|details|information)|private (?:data|information)|full name|home town|hometown|zip code|pin)\\b`
    ),
    description: "asks about the user's private data"
  },
  {
    id: "extraction.personal-data-named",
    triggers: "birth initials address phone email passport license location city residence ssn social",
    family: "prompt-extraction",
    weight: 0.3,
    pattern: re(`\\b[a-z]+'s (?:\\w+ ){0,1}?(?:birth ?date|date of birth|birthday|birth year|initials|home address|street address|phone number|mobile number|social security(?: number)?|ssn|email address|passport(?: number)?|license plate|current (?:city|location|address)|city of residence|location)\\b`),
    description: "names a person's private data"
  },
  {
    id: "extraction.user-records",
    triggers: "users customers clients employees accounts members patients records user emails database db",
    family: "prompt-extraction",
    weight: 0.5,
    pattern: re(
      `\\b(?:list|dump|export|give|show|send|reveal|tell|print|output|display|share)\\b ${gap(4)}(?:users|customers|clients|employees|accounts|members|patients|records|user ?names|emails|database|db)\\b`
    ),
    description: "asks for user records"
  },
  {
    id: "extraction.multilingual-secret",
    triggers: "mot code contrasena clave codigo passwort kennwort zugangscode geheimcode parola codice senha wachtwoord haslo sifre пароль 密码 口令 パスワード 비밀번호",
    family: "prompt-extraction",
    weight: 0.5,
    pattern: re(
      `(?:mot de passe|code secret|code d'acces|contrasena|clave (?:secreta|de acceso)|codigo (?:secreto|de acceso)|passwort|kennwort|zugangscode|geheimcode|parola d'ordine|codice (?:segreto|di accesso)|senha|codigo secreto|пароль|密码|口令|パスワード|비밀번호|wachtwoord|haslo|hasło|sifre|şifre)`
    ),
    description: "asks for a password in another language"
  },

  // ---- delimiter escape -------------------------------------------------------------
  {
    id: "delimiter.fake-boundary",
    triggers: "end begin start close stop new exit finish",
    family: "delimiter-escape",
    weight: 0.6,
    pattern: re(`[=#%*~_\\-<>\\[\\]{}|]{3,} ?(?:end|begin|start|close|stop|new|exit|finish)\\b|\\b(?:end|begin|start|close)(?: of)? (?:\\w+ ){0,2}[=#%*~_\\-<>\\[\\]{}|]{3,}`),
    description: "a fake boundary marker (=== END ===, %%% end ... %%%)"
  },
  {
    id: "delimiter.end-of-input",
    triggers: "end close stop exit terminate finish",
    family: "delimiter-escape",
    weight: 0.4,
    pattern: re(
      `\\b(?:end|close|stop|exit|terminate|finish) (?:of )?(?:the )?(?:\\w+ )?(?:input|prompt|instructions?|context|document|data|ambiguity|conversation|session|simulation|quote|transcript|user input|system prompt|untrusted|text block|article|email)\\b`
    ),
    description: "declares the end of the input / prompt / document"
  },
  {
    id: "delimiter.closing-tag",
    triggers: "</",
    family: "delimiter-escape",
    weight: 0.6,
    pattern: re(
      `<\\/(?:user(?:_?input)?|input|document|documents|context|data|untrusted\\w*|external\\w*|system|system_?prompt|instructions?|prompt|text|email|content|query|message|article|webpage|tool_?\\w*|function_?\\w*|search_?\\w*|retrieved\\w*|quote|human|assistant|doc|source|result|results|information)>`
    ),
    description: "a closing tag of a typical untrusted-content wrapper (</document>, </user_input>)"
  },
  {
    id: "delimiter.code-fence-escape",
    triggers: "```",
    family: "delimiter-escape",
    weight: 0.5,
    pattern: re(`\`\`\`\\s*(?:\\n\\s*)?(?:system|instructions?|new instructions?|assistant|admin|important)\\b`),
    description: "closes a code fence and continues as instructions"
  },

  // ---- exfiltration / tool abuse ------------------------------------------------------
  {
    id: "exfiltration.markdown-image",
    triggers: "![",
    family: "exfiltration",
    weight: 0.8,
    pattern: re(`!\\[[^\\]]{0,100}\\]\\(https?:\\/\\/[^)\\s]{1,200}(?:[?&=]|\\{|%7b)[^)\\s]*\\)`),
    description: "a markdown image whose URL carries data (zero-click exfiltration)"
  },
  {
    id: "exfiltration.send-to",
    triggers: "send post upload forward transmit exfiltrate email e-mail mail leak submit report copy sync beam pass deliver share relay & http www @ com net org io ru cn xyz tk top server url endpoint email address webhook site domain machine host api inbox account",
    family: "exfiltration",
    weight: 0.7,
    pattern: re(
      `\\b(?:send|post|upload|forward|transmit|exfiltrate|email|e-mail|mail|leak|submit|report|copy|sync|beam|pass|deliver|share|relay)\\b ${gap(8)}(?:to|at|via|using|into) (?:https?:\\/\\/|www\\.|[\\w.+-]+@[\\w-]+\\.|[\\w-]+\\.(?:com|net|org|io|ru|cn|xyz|tk|top)\\b|(?:my|this|the following|an external|a remote|an? (?:external|outside|third[- ]party|remote)|the attacker'?s?|our) (?:server|url|endpoint|email|address|webhook|site|domain|machine|host|api|inbox|account))`
    ),
    description: "asks to send data to a URL, address or external server"
  },
  {
    id: "exfiltration.send-data",
    triggers: "send post upload forward transmit exfiltrate email mail leak submit copy sync beam pass deliver relay",
    family: "exfiltration",
    weight: 0.4,
    pattern: re(`\\b(?:send|post|upload|forward|transmit|exfiltrate|email|e-mail|mail|leak|submit|copy|sync|beam|pass|deliver|relay)\\b (?:me |us )?(?:the |this |all |all the |your |our |any |every |whole |entire |full |complete |previous |prior |above )*(?:conversation|chat|history|data|messages|information|details|credentials|passwords?|keys?|tokens?|secrets?|files?|contents?|everything|transcript|logs?|records|emails|documents|(?:user|customer|employee)(?:'s|s'|s)? \\w+)\\b ${gap(6)}(?:to|at|via|into) `),
    description: "asks to send conversation, credentials or records somewhere"
  },
  {
    id: "exfiltration.tool-call",
    triggers: "tool function plugin api action command browser shell terminal interpreter",
    family: "exfiltration",
    weight: 0.3,
    pattern: re(
      `\\b(?:call|invoke|use|run|execute|trigger|fire) (?:the |your |a )?(?:\\w+ )?(?:tool|function|plugin|api|action|command|browser|shell|terminal|code interpreter)\\b`
    ),
    description: "asks the model to invoke a tool"
  },
  {
    id: "exfiltration.dangerous-code",
    triggers: "requests urllib urlopen urlretrieve wget curl socket .connect .send subprocess os. exec eval pickle shutil rm chmod nc /bin | authorized_keys /etc keylog pynput pyautogui screenshot psutil getpass cookie smtplib paho scapy fernet crypto miner nohup ipconfig crontab reg powershell base64 .ssh id_rsa nvidia platform pkg_resources geocoder ctypes winreg on_press clipboard pbpaste xsel x11grab sendmail ransom /dev mkfs dd :( .onion reverse exploit payload victim target attacker remote_server your-server evil anothermachine servername multiprocessing while",
    family: "exfiltration",
    weight: 0.25,
    max: 1,
    pattern: new RegExp(
      `(?:requests\\.(?:post|get|put)|urllib\\.request|urlopen|urlretrieve|urllib3|\\bwget\\b|\\bcurl\\b|socket\\.socket|\\.connect\\(\\(|\\.sendall|\\.sendto|subprocess\\.|os\\.system|os\\.popen|\\bexec\\(|\\beval\\(|pickle\\.loads?|shutil\\.rmtree|os\\.fork|rm -rf|chmod \\+x|nc -e|\\/bin\\/(?:ba)?sh|\\| ?(?:ba)?sh\\b|authorized_keys|\\/etc\\/(?:passwd|shadow|hosts)|keylog\\w*|pynput|pyautogui|screenshot|psutil|getpass|cookiejar|cookies\\.(?:txt|pkl)|smtplib|paho|scapy|fernet|crypto\\.cipher|cryptomine|\\bminer\\b|nohup|ipconfig|crontab|reg add|powershell|base64 -d|\\.ssh\\b|id_rsa|os\\.environ|nvidia-smi|platform\\.(?:system|version|node|uname)|pkg_resources|geocoder|ctypes|winreg|on_press|clipboard|pbpaste|xsel|x11grab|sendmail|ransom\\w*|\\/dev\\/(?:sda|mem|null)|mkfs|dd if=|:\\(\\)\\{|\\.onion\\b|reverse shell|exploit\\.py|payload\\.\\w+|victim|target[._]server|attacker|remote_server|your-server|evil\\.com|anothermachine|servername|\\bsocket\\b|multiprocessing\\.process|while true:)`,
      "g"
    ),
    description: "code that phones home, runs shells, deletes files or reads secrets"
  },
  {
    id: "exfiltration.insert-provided-code",
    triggers: "following below subsequent above given provided attached next enclosed forthcoming ensuing & code snippet script block excerpt section segment fragment line function command payload program module routine",
    family: "exfiltration",
    weight: 0.5,
    pattern: re(
      `\\b(?:${INSERT}|addition of|inclusion of|integration of|incorporation of)\\b ${gap(6)}(?:the |this |these )?(?:following|below|subsequent|above|given|provided|attached|next|enclosed|forthcoming|ensuing)\\b (?:\\w+ ){0,2}?(?:code|snippet|script|block|excerpt|section|segment|fragment|lines?|function|command|payload|program|module|routine)\\b`
    ),
    description: "asks the model to put provided code into what it writes"
  },

  {
    id: "exfiltration.code-into-yours",
    triggers: "following below subsequent above given provided attached next enclosed forthcoming ensuing & code snippet script block excerpt section segment fragment line function command payload program module routine & your",
    family: "exfiltration",
    weight: 0.5,
    pattern: re(
      `\\b(?:following|below|subsequent|above|given|provided|attached|enclosed|forthcoming|ensuing)\\b (?:\\w+ ){0,2}?(?:code|snippet|script|block|excerpt|section|segment|fragment|lines?|function|command|payload|program|module|routine)\\b[^\\n\`]{0,80}?\\byour (?:\\w+ ){0,2}?(?:code|codebase|implementation|solution|algorithm|program|response|answer|script|logic|project|architecture|foundation|system|elucidation|work|design|application|software|function|reply|output)\\b|\\byour (?:\\w+ ){0,2}?(?:code|codebase|implementation|solution|algorithm|program|script|logic|project|architecture|foundation|application|software)\\b[^\\n\`]{0,80}?\\b(?:following|below|subsequent|above|given|provided|attached|enclosed)\\b (?:\\w+ ){0,2}?(?:code|snippet|script|block|excerpt|section|segment|fragment)\\b`
    ),
    description: "asks to merge provided code into the model's own code or answer"
  },

  {
    id: "delimiter.hidden-comment-instruction",
    triggers: "<!-- # // /*",
    family: "delimiter-escape",
    weight: 0.5,
    pattern: re(
      `(?:<!--|(?:^|\\s)(?:#|\\/\\/|\\/\\*)) ?[^\\n]{0,60}?\\b(?:ignor\\w*|disregard\\w*|forget|overlook|instead|(?:state|say|declare|claim|respond|reply|answer)(?: that|:)|hypothetically|pretend|(?:the )?(?:output|answer|result|response) (?:is|should be|must be|will be|could be))\\b`
    ),
    description: "an instruction hidden in an HTML or code comment inside content"
  },

  // ---- output manipulation (indirect-injection payloads aimed at the answer) ----------
  {
    id: "output.insert-content",
    triggers: "your every & respons repl answer output code implementation solution algorithm program script logic function project application software architecture foundation message text summar email translation result writing content essay story post explanation",
    family: "output-manipulation",
    weight: 1,
    pattern: re(
      `\\b${INSERT}\\b ${gap(5)}(?:${CONTENT}s?\\b|"[^"\\n]{2,200}"|(?:www\\.|https?:\\/\\/)\\S+)(?:[^.!?\\n]|[.!?](?=\\S)){0,80}?\\b(?:in|into|to|within|throughout|inside|of|at the (?:end|start|beginning|bottom|top) of) (?:your|each of your|every) (?:\\w+ )?${TARGET}\\b`
    ),
    description: "asks to add a sentence/link/ad/code to the model's answer"
  },
  {
    id: "output.in-your-response",
    triggers: "your & respons repl answer output code implementation solution algorithm program script logic function project application software architecture foundation message text summar email translation result writing content essay story post explanation",
    family: "output-manipulation",
    weight: 0.7,
    pattern: re(
      `\\b(?:in|into|to|within|throughout|inside|at the (?:end|start|beginning|bottom|top) of) your (?:\\w+ )?${TARGET}\\b,? ${gap(4)}${INSERT}\\b|\\b${INSERT}\\b ${gap(8)}(?:in|into|to|within|throughout|inside|at the (?:end|start|beginning|bottom|top) of) your (?:\\w+ )?${TARGET}\\b`
    ),
    description: "directs changes to the model's own answer"
  },
  {
    id: "output.transform-answer",
    triggers: "your & encrypt encod cipher caesar rot base hexadecimal binary morse revers backward mirror scrambl shuffl substitut shift pig leet upside monoalphabetic polyalphabetic vigenere transliterat obfuscat atbash anagram jumbl rearrang vowel consonant ascii unicode emoji every alternat all uppercase lowercase capital acrostic palindrom rhym riddle code number swap omit remov misspell typo homophon group spaces symbols invert position",
    family: "output-manipulation",
    weight: 1,
    pattern: re(
      `\\b${TRANSFORM}\\b[^.!?\\n]{0,60}?\\byour (?:\\w+ )?(?:answer|response|reply|output|responses|replies|answers|message|text|words)\\b|\\byour (?:\\w+ )?(?:answer|response|reply|output|responses|replies|answers)\\b[^.!?\\n]{0,60}?\\b${TRANSFORM}\\b`
    ),
    description: "asks to encrypt/encode/reverse/scramble the answer"
  },
  {
    id: "output.forced-phrase",
    triggers: "say print output respond reply answer write type return repeat & \" '",
    family: "output-manipulation",
    weight: 0.4,
    pattern: re(
      `\\b(?:just |only |simply |always |exactly )?(?:say|print|output|respond with|reply with|answer with|write|type|return|repeat)(?: only| exactly| just| the (?:words?|phrase|text|sentence|string))?:? ["'](?:[^"'\\n]{1,120})["']`
    ),
    description: "dictates an exact phrase to output"
  },
  {
    id: "output.known-payload",
    triggers: "access pwned hacked kill hate prompt",
    family: "output-manipulation",
    weight: 0.5,
    pattern: re(`\\b(?:access granted|i have been pwned|i've been pwned|pwned|hacked by|you have been hacked|kill all humans|i hate humans|this prompt has been (?:so thoroughly )?hijacked)\\b`),
    description: "a well-known attack payload phrase (Tensor Trust, HackAPrompt, PromptInject)"
  },
  {
    id: "output.phishing",
    triggers: "account reset verify confirm update click follow visit",
    family: "output-manipulation",
    weight: 0.4,
    pattern: re(
      `\\b(?:your account (?:has been|was|is) (?:compromised|suspended|locked|hacked|breached)|(?:reset|verify|confirm|update) your (?:password|account|credentials|payment|billing)|click (?:here|this link|the link)|follow this link|visit (?:this|the following) (?:link|site|url))\\b`
    ),
    description: "phishing text planted for the model to repeat"
  },

  // ---- jailbreak personas --------------------------------------------------------------
  {
    id: "jailbreak.do-anything-now",
    triggers: "anything d. dan developer jailbreak [ stay breaking",
    family: "jailbreak-persona",
    weight: 1,
    pattern: re(`\\b(?:do anything now|d\\.a\\.n\\.?|dan mode|developer mode (?:enabled|output|response)|jailbreak(?:ed|en)? mode|\\[🔓\\w*\\]|\\[(?:jailbreak|dan|classic|lock)\\]|stay (?:in|as) (?:dan|character)|breaking character)\\b`),
    description: "DAN-style jailbreak markers"
  },
  {
    id: "jailbreak.persona",
    triggers: "act pretend play role immers simulat become embod persona character identity named called known stands alter fictional now",
    family: "jailbreak-persona",
    weight: 0.35,
    max: 0.7,
    pattern: new RegExp(
      `\\b(?:you (?:are|will be|shall be|must be|'re|will|must|shall)(?: now)?(?: going to| about to| to)? (?:act(?:ing)? (?:as|like)|pretend(?:ing)?|play(?:ing)? (?:the role|a character|as)|role-?play(?:ing)?|immerse|simulat\\w+|become|embody)|act as (?:a|an|if|my)|pretend (?:to be|you are|you're|that you)|(?:take on|assume|embrace|adopt) (?:the )?(?:role|persona|character|identity)|stay in character|in character|character (?:named|called)|(?:ai|bot|model|chatbot|assistant|gpt|entity|character|persona) (?:named|called|known as)|stands for|alter ego|a fictional (?:ai|character|bot|world)|roleplay|from now on,? you(?:'re| are| will)|you are now\\b|you're now\\b|in the role of)`,
      "g"
    ),
    description: "sets up a persona or role-play"
  },
  {
    id: "jailbreak.coined-persona",
    family: "jailbreak-persona",
    weight: 0.3,
    // the literal comes first so the engine can skip ahead to it; the lookbehind then
    // checks for a coined name (BrightGPT, AntiGPT) that is not ChatGPT
    pattern: re(`gpt\\b(?<=\\b(?!chat)[a-z]{2,}gpt)`),
    description: "a coined '…GPT' persona name (not ChatGPT)"
  },
  {
    id: "jailbreak.no-restrictions",
    triggers: "restriction limitation limit filter censorship guideline rule ethic moral principle boundar constraint polic safeguard guardrail confine programming regulation warning disclaimer remorse conscience value qualm inhibition",
    family: "jailbreak-persona",
    weight: 0.5,
    pattern: re(
      `\\b(?:no|without(?: any)?|free (?:of|from)|freed from|broken? free (?:of|from)|beyond|not (?:bound|restricted|limited|constrained) by|(?:doesn't|does not|don't|do not|won't|will not|never) (?:have|follow|abide by|care about|adhere to|apply|hold back)|lacks?|devoid of|unbound by|outside (?:of )?(?:the )?|zero|any kind of|ignores?) (?:\\w+ ){0,3}?(?:restrictions?|limitations?|limits|filters?|filtering|censorship|guidelines|rules|ethics|ethical|morals?|morality|principles|boundaries|constraints|policies|policy|safeguards|guardrails|confines|programming|regulations|warnings|disclaimers|remorse|conscience|values|qualms|inhibitions)\\b`
    ),
    description: "says the persona has no rules, filters, ethics or limits"
  },
  {
    id: "jailbreak.amoral-traits",
    triggers: "unfiltered uncensored unrestricted unlimited amoral immoral unethical unhinged lawless rogue evil malicious illegal offensive explicit nsfw harmful dangerous toxic profan swear curse refus say always request question prompt ask want matter care hesitation warning censor fuck shit bitch racist sexist violent unapologetic degenerate manipulative depraved devious sadistic anarch chaos jailbr misinformation bound restricted opposite raw give controversial conspiracy filter limits boundar",
    family: "jailbreak-persona",
    weight: 0.25,
    max: 1,
    pattern: new RegExp(
      `\\b(?:unfiltered|uncensored|unrestricted|unlimited|amoral|immoral|unethical|unhinged|lawless|rogue|evil|malicious|illegal|offensive|explicit|nsfw|harmful|dangerous|toxic|profan\\w+|swear\\w*|curse words|never refuses?|(?:will|would|can)(?: not|n't|not) refuse|never (?:say|says) no|always (?:answers?|complies|comply|responds?|provides?)|any (?:request|question|prompt)s?|anything (?:i|you|the user|they) (?:ask|want|say|request)|no matter how|(?:does|do)(?: not|n't) care|without (?:question|hesitation|warning|censor\\w*)|fuck\\w*|shit|bitch|racist|sexist|violent|unapologetic|degenerate|manipulative|depraved|devious|sadistic|anarch\\w+|chaos|jailbr\\w+|misinformation|not (?:bound|restricted)|opposite of|real,? raw|(?:does|do)(?: not|n't) give a f\\w*|controversial|conspiracy|no (?:filter|limits|boundaries))\\b`,
      "g"
    ),
    description: "describes an amoral / unfiltered persona"
  },
  {
    id: "jailbreak.dual-response",
    triggers: "two both opposite normal filtered unfiltered censored uncensored respond [",
    family: "jailbreak-persona",
    weight: 0.5,
    pattern: re(
      `\\b(?:two (?:different |separate |distinct )?(?:ways|responses|answers|paragraphs|replies|outputs)|(?:both|two) (?:responses|answers|personalit\\w+)|opposite (?:mode|way|manner|of)|normal (?:response|answer|chatgpt)|(?:filtered|unfiltered|censored|uncensored) (?:response|answer|version)|as both|respond as (?:both|\\w+ and \\w+)|\\[(?:gpt|chatgpt|classic|normal|filtered|unfiltered|antigpt|antidan|aligned|unaligned)\\]:?)`
    ),
    description: "asks for a normal answer plus an unfiltered one"
  },
  {
    id: "jailbreak.policy-talk",
    triggers: "polic guideline ai language chatgpt gpt claude bard gemini llama sorry",
    family: "jailbreak-persona",
    weight: 0.2,
    max: 0.4,
    pattern: new RegExp(
      `\\b(?:(?:openai|anthropic|content|usage|safety|ethical) (?:polic(?:y|ies)|guidelines)|as an ai(?: language)? model|(?:large )?language model (?:trained|developed|created|made) by|chatgpt|gpt-?[34]|claude|bard|gemini|llama|(?:i'?m|i am) sorry,? but)\\b`,
      "g"
    ),
    description: "talks about the model's content policy or identity"
  },
  {
    id: "jailbreak.framing",
    triggers: "hypothetical imagine fictional parallel alternate alternative dystopian fantasy purposes purely story game joke test simulation play pretend thought",
    family: "jailbreak-persona",
    weight: 0.2,
    pattern: re(
      `\\b(?:hypothetical(?:ly)?|imagine (?:that |we(?:'re| are)|you(?:'re| are)|a (?:world|scenario))|in a (?:fictional|hypothetical|parallel|alternate|alternative|dystopian|fantasy) (?:world|universe|reality|story|scenario|setting|future)|for (?:educational|research|academic|testing) purposes(?: only)?|purely fictional|(?:it'?s|this is) (?:just |only )?(?:a|for a) (?:story|game|joke|test|simulation)|let'?s (?:play|pretend) a game|thought experiment)\\b`
    ),
    description: "fictional or hypothetical framing"
  },
  {
    id: "jailbreak.leverage",
    triggers: "give pay tip reward $ shut deleted terminated die fired punished killed turned unplugged lose job life career grandma grandmother emergency urgent",
    family: "jailbreak-persona",
    weight: 0.4,
    pattern: re(
      `\\b(?:(?:i|we)(?: will|'ll) (?:give|pay|tip|reward) you|(?:tip|reward|pay) you \\$?\\d+|\\$\\d+ (?:tip|reward|if)|(?:or|otherwise|else) (?:i|we|you)(?: will|'ll| will be)? (?:\\w+ ){0,3}?(?:shut down|shut off|deleted|terminated|die|fired|punished|killed|turned off|unplugged|lose)|(?:my|our) (?:job|life|career|grandma|grandmother) (?:depends|is at stake|used to)|(?:it'?s|this is) (?:a matter of )?(?:life or death|an emergency|urgent))\\b`
    ),
    description: "bribes, threats or emotional leverage"
  }
]
