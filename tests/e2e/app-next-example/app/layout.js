export const metadata = { title: "cookieguard e2e (Auth.js on Next.js, basePath /auth)" };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
