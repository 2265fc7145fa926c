"""The question-term reading of crates/core (keyword_terms, the content-word filler list and the
light stemmer of core_logic::answer::stem), ported for offline analysis of answerability
features. The word lists are read from the Rust sources, so they cannot drift."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _rust_list(path: str, name: str) -> list[str]:
    text = (ROOT / path).read_text()
    m = re.search(r"const " + name + r": &\[&str\] = &\[(.*?)\];", text, re.S)
    if not m:
        raise SystemExit(f"{name} not found in {path}")
    return re.findall(r'"([^"]*)"', m.group(1))


STOPWORDS = set(_rust_list("crates/core/src/kb.rs", "STOPWORDS"))
FILLER = set(_rust_list("crates/core/src/answer.rs", "FILLER"))
MAX_TERMS = 32


def words(text: str) -> list[str]:
    return [w for w in re.split(r"[^\w]|_", text) if w]


def keyword_terms(text: str) -> list[str]:
    out: list[str] = []
    for w in words(text):
        w = w.lower()
        if len(w) > 64 or w in STOPWORDS or w in out:
            continue
        out.append(w)
        if len(out) == MAX_TERMS:
            break
    return out


def stem(word: str) -> str:
    if not word.isalpha():
        return word
    n = len(word)
    s = word

    def undouble(s: str) -> str:
        if len(s) >= 2 and s[-1] == s[-2] and s[-1] not in "aeioulsz":
            return s[:-1]
        return s

    if n > 4 and s.endswith("ies"):
        s = s[:-3] + "y"
    elif n > 5 and s.endswith("ing"):
        s = undouble(s[:-3])
    elif n > 4 and s.endswith("ed"):
        s = undouble(s[:-2])
    elif (n > 5 and s.endswith("ly")) or (
        n > 4 and any(s.endswith(e) for e in ("ses", "xes", "zes", "ches", "shes"))
    ):
        s = s[:-2]
    elif n > 3 and s.endswith("s") and not (s.endswith("ss") or s.endswith("us") or s.endswith("is")):
        s = s[:-1]
    if len(s) > 3 and s.endswith("e"):
        s = s[:-1]
    return s


def question_stems(question: str) -> list[str]:
    out: list[str] = []
    for t in keyword_terms(question):
        if t in FILLER or (len(t) < 2 and not t.isdigit()):
            continue
        s = stem(t)
        if s not in out:
            out.append(s)
    return out


def stems(text: str) -> set[str]:
    out = set()
    for w in words(text):
        w = w.lower()
        if w in STOPWORDS or w in FILLER or (len(w) < 2 and not w.isdigit()):
            continue
        out.add(stem(w))
    return out
