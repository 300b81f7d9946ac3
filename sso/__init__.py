"""Single sign-on over OpenID Connect (issue #18 item 1): provider login, claim-to-role mapping, local-login policy."""
