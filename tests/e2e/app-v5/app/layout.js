export const metadata = { title: "cookieguard e2e (next-auth v5)" };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
