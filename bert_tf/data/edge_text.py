"""A multilingual edge-case sample for tokenizer parity checks.

Each line stresses one part of BERT's basic tokenization: scripts with and
without case, CJK splitting, accents and compatibility characters, symbols
that are not punctuation, emoji, zero-width and control characters, Unicode
whitespace, very long words and runs of punctuation.
"""

EDGE_CASES = (
    # Latin with accents, German ß (kept by str.lower), ligatures.
    "Straße, FUSS und Ärger: naïve café, résumé, Øresund, Łódź, ﬁne ﬂow",
    "ÀÁÂÃÄÅ àáâãäå ÇÑ çñ ÿŸ Ǆ ǅ ǆ İstanbul ı",
    # Modifier symbols and spacing accents: kept as symbols, not stripped.
    "it´s ¨ ˜ ˆ ` ´ ¸ ˘ ˙ ˚ ˝ ʹ ʻ ʼ ˈ ˌ",
    # Greek (incl. final sigma in lower case), Cyrillic, Armenian.
    "Ελληνικά: ὁ λόγος, ΆΈΉ, σοφία ς, Москва ЁЖИК ёжик, Հայերեն",
    # CJK ideographs (split one per token), kana and hangul (not split).
    "日本語のテキストと中文字符，한국어 문장입니다。ｶﾀｶﾅ ＡＢＣ１２３",
    "\U00020000\U0002a700\U0002b740\U0002b820\U0002ceaf 𠀀 丽 豈",
    # Arabic, Hebrew, Devanagari, Thai (no spaces), with combining marks.
    "مَرْحَبًا بِالْعَالَم! שָׁלוֹם עוֹלָם",
    "नमस्ते दुनिया। हिन्दी भाषा",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    # Emoji, with ZWJ sequences, skin tones and variation selectors.
    "emoji 😀🎉 👩‍💻 👍🏽 ❤️ 🇩🇪 ☃",
    # Zero-width, bidi and format characters (Cf): removed.
    "zero\u200bwidth\u200cjoin\u200d\u2060word\ufeff \u200e\u200fbidi\u202a\u202e",
    # Control characters (Cc) removed; \t \n \r are whitespace.
    "ctrl\x00\x01\x02\x07\x1b[0m\x7f\x85 tab\there\nnew\rline",
    # Unicode whitespace: NBSP, ideographic space, line/paragraph separators.
    "no\u00a0break\u3000ideo\u2028line\u2029para\u2003em\u202fnarrow",
    # Replacement character and private use.
    "bad\ufffdchar \ue000private\U000f0000",
    # Runs of punctuation and ASCII symbols BERT treats as punctuation.
    "!!!??? ... --- ((()))[]{} $$$ ^^^ ``` ~~~ @#%&*+=<>|\\/ «»„“”‘’ ‹› ¿¡",
    "e.g. i.e. U.S.A. 3.14159 1,000,000 10:30 a/b c-d x_y 'quoted' \"dq\"",
    # Very long words: 200 characters is the limit (after normalisation).
    "x" * 200,
    "y" * 201,
    "é" * 150 + " accents shrink when stripped",
    "ab" * 120 + " done",
    "a" * 199 + "," + "b" * 201,
    "日" * 300,
    "https://docs.python.org/3/library/unicodedata.html#unicodedata.normalize",
    # Mixed scripts inside one word.
    "mixedСкриптWord日本abc١٢٣",
    # Nothing or only separators.
    "",
    " ",
    "\t\n\r \u00a0\u3000",
    "\u200b\u200b\u200b",
)
