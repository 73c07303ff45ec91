// The docs' form-action sign-out (<SignOut> posts here): POST /signout.
import { signOut } from "../../auth";

export const actions = { default: signOut };
