export const metadata = { title: "cookieguard e2e (@auth0/nextjs-auth0 v4)" };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
