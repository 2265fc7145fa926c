// The inline editor of one curated answer (POST /api/kb/curated): the question, the answer
// (Markdown) and, for a new answer, the visitor messages it addresses. Used by the admin
// page (Curation.tsx: "Write answer" on an unanswered group, "Edit" on a saved answer) and by
// the agent inbox (an admin's "Save as curated answer" on a solved handoff). Not part of the
// chat page, so not of the widget budget.
import { useState } from "preact/hooks";
import { useStaffFailure, type StaffAuth } from "../components/StaffGate";
import type { CuratedAnswerInput, CuratedSaved } from "../lib/types";
import { saveCurated } from "./admin-api";
import { ADMIN_ONLY } from "./format";

export const MAX_QUESTION_CHARS = 500;
export const MAX_ANSWER_CHARS = 5000;
/** The server takes at most this many `message_ids` per answer. */
export const MAX_MESSAGE_IDS = 500;

/** What the editor is open for: a first answer to some questions, or a saved answer's new text. */
export interface CuratedDraft {
  /** Where the editor is shown (e.g. `group:<id>`, `curated:<document id>`); one editor per key. */
  key: string;
  question: string;
  answer: string;
  /** The visitor messages (questions) the saved answer marks as addressed. */
  messageIds?: string[];
  /** A saved answer: its question is what identifies it (the same question updates it). */
  existing: boolean;
}

function editorHint(existing: boolean, questions: number): string {
  if (existing) return "The question identifies this answer: saving replaces its text.";
  const added = "Saving adds it to the knowledge base";
  if (questions === 0) return `${added}.`;
  const marked = questions === 1 ? "the question" : `the ${Math.min(questions, MAX_MESSAGE_IDS)} questions`;
  return `${added} and marks ${marked} of this group as addressed.`;
}

export function CuratedEditor({
  auth,
  draft,
  onSaved,
  onCancel,
  hint,
  forbidden = ADMIN_ONLY,
}: {
  auth: StaffAuth;
  draft: CuratedDraft;
  onSaved(draft: CuratedDraft, saved: CuratedSaved): void;
  onCancel(): void;
  /** The line under the fields; by default what saving does on the admin page. */
  hint?: string;
  /** What a 403 says. */
  forbidden?: string;
}) {
  const [question, setQuestion] = useState(draft.question);
  const [answer, setAnswer] = useState(draft.answer);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const failure = useStaffFailure(auth, forbidden);
  const valid = question.trim() !== "" && answer.trim() !== "";
  const ids = draft.messageIds ?? [];

  const save = async () => {
    if (!valid || saving) return;
    setSaving(true);
    setError(null);
    const input: CuratedAnswerInput = { question: question.trim(), answer: answer.trim() };
    if (ids.length > 0) input.message_ids = ids.slice(0, MAX_MESSAGE_IDS);
    try {
      onSaved(draft, await saveCurated(auth.token, input));
    } catch (e) {
      setError(failure(e));
      setSaving(false);
    }
  };

  return (
    <form
      class="editor"
      aria-label={draft.existing ? "Edit the curated answer" : "Write a curated answer"}
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <label class="field">
        <span>Question</span>
        <input
          type="text"
          data-testid="curated-question"
          required
          maxLength={MAX_QUESTION_CHARS}
          readOnly={draft.existing}
          value={question}
          onInput={(e) => setQuestion(e.currentTarget.value)}
        />
      </label>
      <label class="field">
        <span>Answer (Markdown allowed)</span>
        <textarea
          data-testid="curated-answer"
          required
          rows={6}
          maxLength={MAX_ANSWER_CHARS}
          value={answer}
          onInput={(e) => setAnswer(e.currentTarget.value)}
        />
      </label>
      <p class="editor__hint muted">{hint ?? editorHint(draft.existing, ids.length)}</p>
      {error && (
        <p class="alert" role="alert">
          {error}
        </p>
      )}
      <div class="editor__actions">
        <button type="submit" class="btn btn--primary" data-testid="curated-save" disabled={!valid || saving}>
          {saving ? "Saving…" : "Save answer"}
        </button>
        <button type="button" class="btn" onClick={onCancel} disabled={saving}>
          Cancel
        </button>
        <span class="editor__count muted">
          {answer.length} / {MAX_ANSWER_CHARS}
        </span>
      </div>
    </form>
  );
}
