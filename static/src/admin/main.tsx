// Entry of the admin knowledge page (/admin/).
import { render } from "preact";
import "../styles/staff.css";
import { AdminApp } from "./AdminApp";

render(<AdminApp />, document.getElementById("app")!);
