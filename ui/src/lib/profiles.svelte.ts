// Where the "server of another kind" form is open: over the sign-in screen or the accounts,
// to add one (`account` null) or to edit the account named.
export const profileUi = $state({
  open: false,
  account: null as string | null,
});

/** Opens the form to add a server of another kind. */
export function addOtherServer() {
  profileUi.account = null;
  profileUi.open = true;
}

/** Opens the form to edit a server of another kind. */
export function editProfile(account: string) {
  profileUi.account = account;
  profileUi.open = true;
}

export function closeProfileForm() {
  profileUi.open = false;
  profileUi.account = null;
}
