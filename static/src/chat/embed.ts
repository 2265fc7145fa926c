// The chat page's side of the widget protocol: inside the widget's iframe (`embed=1`) it
// asks the parent page to close the panel. The widget (src/widget/mount.ts) keeps its own
// copy of the message type because its bundle must share no module with the pages; a test
// keeps the two equal.

export const CLOSE_MESSAGE_TYPE = "support-agent:close";

/** Asks the embedding page to close the chat panel (the message carries nothing secret). */
export function requestClose(target: Window = window.parent): void {
  target.postMessage({ type: CLOSE_MESSAGE_TYPE }, "*");
}
