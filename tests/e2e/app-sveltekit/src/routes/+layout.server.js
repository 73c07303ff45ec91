// As the @auth/sveltekit docs: every page load reads the session through
// event.locals.auth(), which re-encodes it and sets the session cookie on the response.
export const load = async (event) => {
  return { session: await event.locals.auth() };
};
