// Entry of the agent inbox page (/agent/).
import { render } from "preact";
import "../styles/staff.css";
import { InboxApp } from "./InboxApp";

render(<InboxApp />, document.getElementById("app")!);
