import React from "react";

type Props = { label: string; onClick: () => void };

/** A button with a label. */
export function Button({ label, onClick }: Props) {
  return <button onClick={onClick}>{label}</button>;
}

export const IconButton = ({ label }: Props) => (
  <span className="icon">{label}</span>
);
