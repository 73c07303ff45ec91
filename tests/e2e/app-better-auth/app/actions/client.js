"use client";

import { useState } from "react";
import { updateAction } from "./actions";

// Puts updateAction in the server-reference manifest (race.mjs calls it by its id).
export default function ActionsClient() {
  const [newValue, setNewValue] = useState("");
  const [message, setMessage] = useState("");
  return (
    <div>
      <input id="newvalue" value={newValue} onChange={(e) => setNewValue(e.target.value)} />
      <button id="update" type="button" onClick={async () => setMessage(`updated:${(await updateAction(newValue))?.value ?? ""}`)}>
        Update
      </button>
      <span id="message">{message}</span>
    </div>
  );
}
