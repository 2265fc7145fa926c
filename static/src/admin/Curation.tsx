// The admin page's answers to what the bot could not answer: the unanswered-questions report
// (near-duplicates grouped, why each counted, the best passage retrieval found; CSV export),
// the curated answers, and one inline editor for either ("Write answer" on a group, "Edit" on
// a curated answer; the editor itself is CuratedEditor.tsx). API calls live in admin-api.ts,
// wording in format.ts.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { useStaffFailure, type StaffAuth } from "../components/StaffGate";
import type { CuratedAnswer, CuratedSaved, UnansweredGroup, UnansweredReport } from "../lib/types";
import { exportUnansweredCsv, lastDays, listCurated, listUnanswered, saveBlob } from "./admin-api";
import { CuratedEditor, type CuratedDraft } from "./CuratedEditor";
import {
  ADMIN_ONLY,
  bestPassage,
  curatedSavedText,
  examplesLabel,
  firstLine,
  formatDate,
  formatScore,
  reasonBadges,
  unansweredMetaText,
} from "./format";

/** The periods to choose from, in days; the server's default is 30. */
export const PERIOD_DAYS = [7, 30, 90] as const;
const DEFAULT_DAYS = 30;
export const CSV_FILENAME = "unanswered.csv";
function useFailure(auth: StaffAuth) {
  return useStaffFailure(auth, ADMIN_ONLY);
}

type Notice = { section: "unanswered" | "curated"; text: string };

function NoticeLine({ notice, section }: { notice: Notice | null; section: Notice["section"] }) {
  return (
    <p class="curation__notice" role="status">
      {notice?.section === section ? notice.text : ""}
    </p>
  );
}

function GroupRow({
  group,
  addressedBy,
  open,
  onWrite,
  editor,
}: {
  group: UnansweredGroup;
  addressedBy: string | null;
  open: boolean;
  onWrite(): void;
  editor: ComponentChildren;
}) {
  const best = bestPassage(group.passages);
  return (
    <>
      <tr data-testid="unanswered-group" data-group-id={group.id} data-count={group.count} data-addressed={String(addressedBy !== null)}>
        <td class="unanswered__question">
          <div>{group.question}</div>
          {group.examples.length > 0 && (
            <details class="unanswered__examples">
              <summary>{examplesLabel(group.examples.length)}</summary>
              <ul>
                {group.examples.map((example, i) => (
                  <li key={i}>{example}</li>
                ))}
              </ul>
            </details>
          )}
        </td>
        <td class="num">{group.count}</td>
        <td class="nowrap">{formatDate(group.last_asked)}</td>
        <td>
          <span class="unanswered__reasons">
            {reasonBadges(group.reasons).map((badge) => (
              <span key={badge.key} class={`badge badge--reason-${badge.key}`} title={badge.title}>
                {badge.text}
              </span>
            ))}
          </span>
        </td>
        <td class="unanswered__passage">
          {best ? (
            <>
              <div class="passage__title">{best.title}</div>
              <div class="muted">score {formatScore(best.score)}</div>
              {best.quote && <div class="unanswered__quote muted">{best.quote}</div>}
            </>
          ) : (
            <span class="muted">No passage</span>
          )}
        </td>
        <td>
          {addressedBy !== null ? (
            <div class="unanswered__addressed">
              <span class="badge badge--done">Addressed</span>
              <span class="mono">{addressedBy}</span>
            </div>
          ) : (
            <button
              type="button"
              class="btn btn--small"
              data-testid="write-answer"
              aria-expanded={open}
              aria-label={`Write an answer to “${group.question}”`}
              onClick={onWrite}
            >
              Write answer
            </button>
          )}
        </td>
      </tr>
      {open && (
        <tr class="unanswered__editor">
          <td colSpan={6}>{editor}</td>
        </tr>
      )}
    </>
  );
}

function UnansweredQuestions({
  auth,
  reloadKey,
  addressed,
  draftKey,
  notice,
  onWrite,
  editor,
}: {
  auth: StaffAuth;
  reloadKey: number;
  /** Groups answered on this page, before the reloaded report says so. */
  addressed: Record<string, string>;
  draftKey: string | null;
  notice: Notice | null;
  onWrite(group: UnansweredGroup): void;
  editor: ComponentChildren;
}) {
  const [days, setDays] = useState<number>(DEFAULT_DAYS);
  const [report, setReport] = useState<UnansweredReport | null>(null);
  const [loading, setLoading] = useState(true);
  const [exporting, setExporting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const current = useRef<AbortController | null>(null);
  const failure = useFailure(auth);

  const load = useCallback(
    async (period: number) => {
      current.current?.abort();
      const controller = new AbortController();
      current.current = controller;
      setLoading(true);
      try {
        const next = await listUnanswered(auth.token, lastDays(period), controller.signal);
        if (current.current !== controller) return;
        setReport(next);
        setError(null);
      } catch (e) {
        if (current.current !== controller) return;
        setError(failure(e));
      } finally {
        if (current.current === controller) setLoading(false);
      }
    },
    [auth.token, failure],
  );

  useEffect(() => {
    void load(days);
  }, [load, days, reloadKey]);

  useEffect(() => () => current.current?.abort(), []);

  const exportCsv = async () => {
    setExporting(true);
    try {
      saveBlob(await exportUnansweredCsv(auth.token, lastDays(days)), CSV_FILENAME);
    } catch (e) {
      setError(failure(e));
    } finally {
      setExporting(false);
    }
  };

  const groups = report?.groups ?? [];
  return (
    <section class="card" aria-labelledby="unanswered-heading">
      <div class="card__head">
        <h2 id="unanswered-heading">Unanswered questions</h2>
        <div class="card__tools">
          <select
            data-testid="unanswered-period"
            aria-label="Period"
            value={String(days)}
            onChange={(e) => setDays(Number(e.currentTarget.value))}
          >
            {PERIOD_DAYS.map((d) => (
              <option key={d} value={String(d)}>
                Last {d} days
              </option>
            ))}
          </select>
          <button type="button" class="btn btn--small" onClick={() => void load(days)} disabled={loading}>
            Refresh
          </button>
          <button
            type="button"
            class="btn btn--small"
            data-testid="unanswered-export"
            onClick={() => void exportCsv()}
            disabled={exporting}
          >
            {exporting ? "Exporting…" : "Export CSV"}
          </button>
        </div>
      </div>
      <p class="muted unanswered__intro">
        Questions the bot declined, handed to a person because it could not answer, or that a visitor rated not
        helpful; near-duplicates are one row. Emails, phone numbers and order numbers are masked.
      </p>
      {error && (
        <p class="alert" role="alert">
          {error}
        </p>
      )}
      {report && groups.length > 0 && <p class="search__meta">{unansweredMetaText(report)}</p>}
      {groups.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th scope="col">Question</th>
                <th scope="col" class="num">
                  Asked
                </th>
                <th scope="col">Last asked</th>
                <th scope="col">Why</th>
                <th scope="col">Best passage found</th>
                <th scope="col">
                  <span class="sr-only">Answer</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {groups.map((group) => {
                const key = `group:${group.id}`;
                return (
                  <GroupRow
                    key={group.id}
                    group={group}
                    addressedBy={group.addressed_by ?? addressed[group.id] ?? null}
                    open={draftKey === key}
                    onWrite={() => onWrite(group)}
                    editor={draftKey === key ? editor : null}
                  />
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <NoticeLine notice={notice} section="unanswered" />
      {!loading && report && groups.length === 0 && !error && (
        <p class="muted">No unanswered questions in this period.</p>
      )}
      {loading && <p class="muted">Loading…</p>}
    </section>
  );
}

function CuratedAnswers({
  auth,
  reloadKey,
  draftKey,
  notice,
  onEdit,
  editor,
}: {
  auth: StaffAuth;
  reloadKey: number;
  draftKey: string | null;
  notice: Notice | null;
  onEdit(answer: CuratedAnswer): void;
  editor: ComponentChildren;
}) {
  const [answers, setAnswers] = useState<CuratedAnswer[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const failure = useFailure(auth);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      setAnswers((await listCurated(auth.token)).answers);
      setError(null);
    } catch (e) {
      setError(failure(e));
    } finally {
      setLoading(false);
    }
  }, [auth.token, failure]);

  useEffect(() => {
    void load();
  }, [load, reloadKey]);

  return (
    <section class="card" aria-labelledby="curated-heading">
      <div class="card__head">
        <h2 id="curated-heading">Curated answers</h2>
        <button type="button" class="btn btn--small" onClick={() => void load()} disabled={loading}>
          Refresh
        </button>
      </div>
      {error && (
        <p class="alert" role="alert">
          {error}
        </p>
      )}
      {answers.length > 0 && (
        <ul class="curated">
          {answers.map((a) => {
            const key = `curated:${a.document_id}`;
            return (
              <li key={a.document_id} class="curated__item" data-testid="curated-item" data-doc-id={a.document_id}>
                <div class="curated__row">
                  <div class="curated__text">
                    <div class="curated__question">{a.question}</div>
                    <div class="curated__first muted">{firstLine(a.answer)}</div>
                  </div>
                  <span class="curated__date muted nowrap">{formatDate(a.updated_at)}</span>
                  <button
                    type="button"
                    class="btn btn--small"
                    aria-expanded={draftKey === key}
                    aria-label={`Edit the answer to “${a.question}”`}
                    onClick={() => onEdit(a)}
                  >
                    Edit
                  </button>
                </div>
                {draftKey === key && editor}
              </li>
            );
          })}
        </ul>
      )}
      <NoticeLine notice={notice} section="curated" />
      {!loading && answers.length === 0 && !error && (
        <p class="muted">No curated answers yet. Write one for an unanswered question above.</p>
      )}
      {loading && <p class="muted">Loading…</p>}
    </section>
  );
}

/** Both sections and their one editor; `onSaved` after an answer is saved (a new document). */
export function Curation({ auth, onSaved }: { auth: StaffAuth; onSaved(): void }) {
  const [draft, setDraft] = useState<CuratedDraft | null>(null);
  const [reloadKey, setReloadKey] = useState(0);
  const [addressed, setAddressed] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<Notice | null>(null);

  // Opening the editor where it is already open closes it (the button toggles).
  const open = (next: CuratedDraft) => {
    setNotice(null);
    setDraft((current) => (current?.key === next.key ? null : next));
  };

  const saved = (from: CuratedDraft, result: CuratedSaved) => {
    const groupId = from.key.startsWith("group:") ? from.key.slice("group:".length) : null;
    if (groupId !== null) setAddressed((a) => ({ ...a, [groupId]: result.answer.document_id }));
    setNotice({ section: groupId !== null ? "unanswered" : "curated", text: curatedSavedText(result) });
    setDraft((current) => (current?.key === from.key ? null : current));
    setReloadKey((k) => k + 1);
    onSaved();
  };

  const editor = draft && (
    <CuratedEditor key={draft.key} auth={auth} draft={draft} onSaved={saved} onCancel={() => setDraft(null)} />
  );

  return (
    <>
      <UnansweredQuestions
        auth={auth}
        reloadKey={reloadKey}
        addressed={addressed}
        draftKey={draft?.key ?? null}
        notice={notice}
        editor={editor}
        onWrite={(group) =>
          open({
            key: `group:${group.id}`,
            question: group.question,
            answer: group.agent_reply ?? "",
            messageIds: group.message_ids,
            existing: false,
          })
        }
      />
      <CuratedAnswers
        auth={auth}
        reloadKey={reloadKey}
        draftKey={draft?.key ?? null}
        notice={notice}
        editor={editor}
        onEdit={(a) => open({ key: `curated:${a.document_id}`, question: a.question, answer: a.answer, existing: true })}
      />
    </>
  );
}
