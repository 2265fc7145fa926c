// Tests of the chat page's close request to the widget.
import { describe, expect, it, vi } from "vitest";
import { CLOSE_MESSAGE_TYPE as WIDGET_CLOSE_MESSAGE_TYPE } from "../widget/mount";
import { CLOSE_MESSAGE_TYPE, requestClose } from "./embed";

describe("requestClose", () => {
  it("posts the message type the widget listens for", () => {
    expect(CLOSE_MESSAGE_TYPE).toBe(WIDGET_CLOSE_MESSAGE_TYPE);
    const target = { postMessage: vi.fn() } as unknown as Window;
    requestClose(target);
    expect(target.postMessage).toHaveBeenCalledWith({ type: "support-agent:close" }, "*");
  });
});
