export const metadata = { title: "cookieguard e2e (Better Auth)" };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
