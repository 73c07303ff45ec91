"use client";

import { createAuthClient } from "better-auth/react";

// Better Auth's React client as its docs create it; no baseURL: the page's own origin
// (the app is reached directly and through each cookieguard), base path /api/auth.
export const authClient = createAuthClient();
