// Entry of the chat page (/chat/?key=<widget key>[&name=<company>][&embed=1]).
import { render } from "preact";
import "./chat.css";
import { ChatApp } from "./ChatApp";

const params = new URLSearchParams(location.search);
const embedded = params.get("embed") === "1";
if (embedded) document.documentElement.classList.add("embedded");
const company = params.get("name")?.trim().slice(0, 80) || undefined;
render(
  <ChatApp widgetKey={params.get("key")?.trim() ?? ""} embedded={embedded} company={company} />,
  document.getElementById("app")!,
);
