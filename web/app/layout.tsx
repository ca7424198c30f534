import type { Metadata } from "next";
import type { ReactNode } from "react";
import { Shortcuts } from "@/components/shortcuts";
import "./globals.css";
import { Providers } from "./providers";

export const metadata: Metadata = { title: "OpenHive", description: "OpenHive operator console" };

// Before first paint: the stored choice, else the system's, so there is no light flash in dark mode.
const THEME_SCRIPT = `try{var t=localStorage.getItem("hive-theme");if(t==="dark"||(t!=="light"&&matchMedia("(prefers-color-scheme: dark)").matches))document.documentElement.classList.add("dark")}catch(e){}`;

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        <script dangerouslySetInnerHTML={{ __html: THEME_SCRIPT }} />
      </head>
      <body className="min-h-screen font-sans text-sm antialiased">
        <Providers>
          {children}
          <Shortcuts />
        </Providers>
      </body>
    </html>
  );
}
