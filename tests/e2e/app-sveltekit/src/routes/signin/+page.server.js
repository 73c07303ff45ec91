// The docs' form-action sign-in (<SignIn> posts here): POST /signin with providerId.
import { signIn } from "../../auth";

export const actions = { default: signIn };
