import type { ButtonHTMLAttributes } from "react";

type Variant = "primary" | "secondary" | "danger" | "ghost";

const VARIANTS: Record<Variant, string> = {
  primary: "bg-accent text-accent-fg border-accent hover:opacity-90",
  secondary: "bg-panel text-fg border-line hover:bg-bg",
  danger: "bg-panel text-danger border-danger hover:bg-del",
  ghost: "bg-transparent text-fg border-transparent hover:bg-bg",
};

export function Button({
  variant = "secondary",
  className = "",
  type = "button",
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant }) {
  return (
    <button
      type={type}
      className={`inline-flex items-center gap-1 rounded-md border px-3 py-1.5 text-sm font-medium disabled:cursor-not-allowed disabled:border-line disabled:bg-panel disabled:text-muted disabled:opacity-60 ${VARIANTS[variant]} ${className}`}
      {...props}
    />
  );
}
