// Entry of the chat page (/chat/?key=<widget key>[&embed=1]).
import { render } from "preact";
import "./chat.css";
import { ChatApp } from "./ChatApp";

const params = new URLSearchParams(location.search);
const embedded = params.get("embed") === "1";
if (embedded) document.documentElement.classList.add("embedded");
render(<ChatApp widgetKey={params.get("key")?.trim() ?? ""} embedded={embedded} />, document.getElementById("app")!);
