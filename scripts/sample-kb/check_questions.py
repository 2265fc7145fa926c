#!/usr/bin/env python3
"""Validate kb-loader/sample-kb/questions.jsonl, the retrieval-evaluation
question set for the sample knowledge base.

Checks: every line is a JSON object with exactly id/question/answers/kind;
ids are q001, q002, ... in order; kind is direct/paraphrase/unanswerable;
unanswerable questions have no answers and the others have at least one;
every answer path exists under sample-kb/ and is an article; every article
is the answer of at least 2 questions; minimum counts per kind are met.

Usage: scripts/sample-kb/check_questions.py [path/to/sample-kb]
Exit status 0 if everything passes, 1 otherwise.
"""
import json
import sys
from collections import Counter
from pathlib import Path

ARTICLE_EXTS = {".md", ".html", ".pdf", ".docx"}
NOT_ARTICLES = {"README.md", "questions.jsonl"}  # skipped by the loader by name
KINDS = {"direct", "paraphrase", "unanswerable"}
MIN_ANSWERABLE, MIN_PARAPHRASE, MIN_UNANSWERABLE, MIN_PER_ARTICLE = 70, 30, 25, 2


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        Path(__file__).resolve().parents[2] / "kb-loader" / "sample-kb")
    qfile = root / "questions.jsonl"
    errors: list[str] = []

    articles = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix in ARTICLE_EXTS and p.name not in NOT_ARTICLES
    )

    kinds: Counter = Counter()
    coverage: Counter = Counter()
    seen_ids: set = set()
    seen_questions: set = set()
    multi_answer = 0
    lines = qfile.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        where = f"line {n}"
        if not line.strip():
            errors.append(f"{where}: empty line")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: invalid JSON ({e})")
            continue
        if not isinstance(obj, dict) or set(obj) != {"id", "question", "answers", "kind"}:
            errors.append(f"{where}: expected an object with keys id, question, answers, kind")
            continue
        qid, question, answers, kind = obj["id"], obj["question"], obj["answers"], obj["kind"]
        where = f"line {n} ({qid})"
        if qid != f"q{n:03d}":
            errors.append(f"{where}: expected id q{n:03d}")
        if qid in seen_ids:
            errors.append(f"{where}: duplicate id")
        seen_ids.add(qid)
        if not isinstance(question, str) or not question.strip():
            errors.append(f"{where}: empty question")
        elif question.strip().lower() in seen_questions:
            errors.append(f"{where}: duplicate question text")
        else:
            seen_questions.add(question.strip().lower())
        if kind not in KINDS:
            errors.append(f"{where}: unknown kind {kind!r}")
            continue
        kinds[kind] += 1
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            errors.append(f"{where}: answers must be a list of strings")
            continue
        if len(set(answers)) != len(answers):
            errors.append(f"{where}: repeated answer path")
        if kind == "unanswerable" and answers:
            errors.append(f"{where}: unanswerable question must have answers == []")
        if kind != "unanswerable" and not answers:
            errors.append(f"{where}: {kind} question needs at least one answer")
        if len(answers) > 1:
            multi_answer += 1
        for a in answers:
            if a not in articles:
                errors.append(f"{where}: answer {a!r} is not an article under {root}")
            coverage[a] += 1

    for a in articles:
        if coverage[a] < MIN_PER_ARTICLE:
            errors.append(f"article {a} is answered by {coverage[a]} question(s), need {MIN_PER_ARTICLE}")

    answerable = kinds["direct"] + kinds["paraphrase"]
    if answerable < MIN_ANSWERABLE:
        errors.append(f"{answerable} answerable questions, need {MIN_ANSWERABLE}")
    if kinds["paraphrase"] < MIN_PARAPHRASE:
        errors.append(f"{kinds['paraphrase']} paraphrase questions, need {MIN_PARAPHRASE}")
    if kinds["unanswerable"] < MIN_UNANSWERABLE:
        errors.append(f"{kinds['unanswerable']} unanswerable questions, need {MIN_UNANSWERABLE}")

    formats = Counter(Path(a).suffix for a in articles)
    print(f"articles: {len(articles)} ({', '.join(f'{k[1:]}={v}' for k, v in sorted(formats.items()))})")
    print(f"questions: {len(lines)} (direct={kinds['direct']}, paraphrase={kinds['paraphrase']}, "
          f"unanswerable={kinds['unanswerable']}; answerable={answerable}; multi-answer={multi_answer})")
    if articles:
        print(f"questions per article: min={min(coverage[a] for a in articles)}, "
              f"max={max(coverage[a] for a in articles)}")
    for e in errors:
        print("ERROR:", e)
    print("FAIL" if errors else "OK")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
