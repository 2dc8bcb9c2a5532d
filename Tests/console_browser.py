#!/usr/bin/env python3
"""Drives the admin console in headless Chromium (Debian's chromium and chromium-driver, through
Selenium) as an operator would: signs in, visits every page, ends a user's sessions, accepts one
sign-up and rejects another with a reason, credits a balance, and reloads to see that no token
survived. Prints one JSON object; exits 1 with the failing step (and a screenshot of it) otherwise.

    python3 Tests/console_browser.py --base http://127.0.0.1:8080 --login root@example.com \
        --password … --accept ann@example.com --reject bob@example.com --reason "Not a customer" \
        --user carl@example.com --screenshots docs/console
"""
import argparse
import json
import os
import sys
import tempfile

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 30


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                 "--force-prefers-reduced-motion", "--lang=en-GB"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Debian's driver, never one Selenium Manager would download.
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class Walk:
    def __init__(self, args):
        self.args = args
        self.driver = browser()
        self.steps = []
        self.shots = args.screenshots or tempfile.mkdtemp(prefix="console-shots-")
        os.makedirs(self.shots, exist_ok=True)

    def wait(self, condition, what):
        try:
            return WebDriverWait(self.driver, WAIT).until(condition)
        except TimeoutException:
            raise AssertionError(f"timed out waiting for {what}")

    def visible(self, css, what=None):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), what or css)

    def text_in(self, css, text):
        self.wait(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), f"'{text}' in {css}")

    def loaded(self):
        """Waits until the page has drawn what the location names, and returns its text."""
        self.wait(lambda d: d.execute_script(
            "const m = document.getElementById('main'); return !m.hasAttribute('aria-busy') && m.dataset.view === location.hash"),
            "the page to draw")
        return self.driver.find_element(By.ID, "main").text

    def go(self, fragment):
        self.driver.execute_script("location.hash = arguments[0]", fragment)
        return self.loaded()

    def shot(self, name):
        """The whole page: the window grows to the page's height for the picture."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, min(max(height + 140, 900), 2600))
        self.driver.save_screenshot(os.path.join(self.shots, f"{name}.png"))
        self.driver.set_window_size(1280, 900)

    def step(self, name):
        self.steps.append(name)

    def row(self, text):
        """The table row whose text contains `text`, once the page has finished drawing."""
        self.loaded()
        return self.wait(lambda d: next((r for r in d.find_elements(By.CSS_SELECTOR, "#main tbody tr") if text in r.text), False),
                         f"a row with {text}")

    def run(self):
        d, a = self.driver, self.args
        d.get(f"{a.base}/admin")
        self.visible("#signin-form")
        self.shot("sign-in")
        self.step("sign-in page")

        d.find_element(By.NAME, "login").send_keys(a.login)
        d.find_element(By.NAME, "password").send_keys(a.password)
        d.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
        self.visible("#nav a", "the sections after signing in")
        sections = [link.text for link in d.find_elements(By.CSS_SELECTOR, "#nav a")]
        for expected in ("Users", "Registrations", "Roles & permissions", "Audit log", "Marketplace", "Balances"):
            assert expected in sections, f"section {expected} missing from {sections}"
        stored = d.execute_script("return [localStorage.length, sessionStorage.length, document.cookie]")
        assert stored == [0, 0, ""], f"something was stored where scripts can read it: {stored}"
        self.step("signed in; nothing in localStorage, sessionStorage or cookies")

        text = self.go("#/users")
        self.row(a.user)
        # A name that is markup stays text: shown as typed, never run.
        assert a.markup_name in text, f"the name {a.markup_name!r} is not shown as text"
        assert d.execute_script("return window.pwned === undefined"), "a user's name ran as markup"
        self.shot("users")
        self.go(f"#/users?q={a.user.split('@')[0]}")
        rows = d.find_elements(By.CSS_SELECTOR, "#main tbody tr")
        assert len(rows) == 1 and a.user in rows[0].text, f"search for {a.user} found {[r.text for r in rows]}"
        self.go("#/users?status=pending")
        statuses = {r.find_elements(By.TAG_NAME, "td")[2].text for r in d.find_elements(By.CSS_SELECTOR, "#main tbody tr")}
        assert statuses == {"pending"}, f"status filter showed {statuses}"
        self.step("users listed, searched and filtered")

        self.go(f"#/users?q={a.user.split('@')[0]}")
        self.row(a.user).find_element(By.TAG_NAME, "a").click()
        self.visible("#status-form")
        self.loaded()
        self.text_in("#main", "Bookings (1)")
        self.shot("user")
        d.find_element(By.ID, "end-sessions").click()
        self.text_in("#flash", "Every session ended.")
        self.text_in("#main", "Sessions (0)")
        self.step("a user's page: sessions ended")

        self.go("#/registrations")
        self.row(a.accept)
        self.row(a.reject)
        self.shot("registrations")
        self.row(a.accept).find_element(By.CSS_SELECTOR, "button.accept").click()
        self.text_in("#flash", f"{a.accept} accepted.")
        reject = self.row(a.reject)
        reject.find_element(By.NAME, "reason").send_keys(a.reason)
        reject.find_element(By.CSS_SELECTOR, "form.reject button").click()
        self.text_in("#flash", f"{a.reject} rejected.")
        text = self.loaded()
        assert a.accept not in text and a.reject not in text, "decided sign-ups still listed as pending"
        self.step("one sign-up accepted, one rejected with a reason")

        text = self.go("#/rbac")
        for expected in ("Resources", "Actions", "Permissions", "Roles", "supervisor"):
            assert expected in text, f"{expected} missing from the RBAC page"
        form = d.find_element(By.ID, "new-resources")
        form.find_element(By.NAME, "code_name").send_keys("reports")
        form.find_element(By.NAME, "name").send_keys("Reports")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.text_in("#flash", "Created in resources.")
        self.row("Reports")
        self.shot("rbac")
        self.step("RBAC catalogue; a resource created")

        text = self.go("#/audit")
        for event in ("registration.accepted", "registration.rejected"):
            assert event in text, f"{event} missing from the audit page"
        self.shot("audit")
        self.step("audit log shows the decisions")

        text = self.go("#/marketplace")
        assert a.service in text, f"service {a.service} missing from the marketplace page"
        self.shot("marketplace")
        self.step("marketplace")

        self.go(f"#/balances?q={a.user.split('@')[0]}")
        self.row(a.user).find_element(By.TAG_NAME, "a").click()
        self.visible("#balance-form")
        before = self.loaded()
        form = d.find_element(By.ID, "balance-form")
        Select(form.find_element(By.NAME, "action")).select_by_value("in")
        Select(form.find_element(By.NAME, "value_type")).select_by_value("real")
        form.find_element(By.NAME, "value").send_keys("100.00")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.text_in("#flash", "Balance changed.")
        self.text_in("#real", a.expect_real)
        assert "Ledger (" in before
        self.shot("balances")
        self.step("balance credited")

        problems = [entry["message"] for entry in d.get_log("browser") if entry["level"] == "SEVERE"]
        assert not problems, f"the browser reported errors: {problems}"
        self.step("no error in the browser's console")

        # The policy, as the browser enforces it: an inline script injected into the page never runs
        # (Trusted Types refuse the text, and script-src would refuse the element).
        ran = d.execute_script(
            "try { const s = document.createElement('script'); s.textContent = 'window.injected = 1'; document.body.append(s); }"
            " catch (e) { return 'refused: ' + e.name }"
            " return window.injected === 1")
        assert ran is not True, "an inline script ran: the Content-Security-Policy is not enforced"
        assert d.execute_script("return typeof session === 'undefined'"), "the console's tokens are reachable as a global"
        d.get_log("browser")  # the refusal's own report, expected
        self.step("an injected inline script is refused")

        d.refresh()
        self.visible("#signin-form", "the sign-in form after a reload")
        assert not d.find_element(By.ID, "nav").is_displayed()
        self.step("a reload asks to sign in again")

        # A supervisor sees what the supervisor role allows: the RBAC catalogue, nothing else.
        d.find_element(By.NAME, "login").send_keys(a.supervisor)
        d.find_element(By.NAME, "password").send_keys(a.password)
        d.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
        self.visible("#nav a", "the sections after the supervisor signs in")
        sections = [link.text for link in d.find_elements(By.CSS_SELECTOR, "#nav a")]
        assert sections == ["Roles & permissions"], f"a supervisor was offered {sections}"
        assert "Permissions" in self.loaded(), "the supervisor's first page is not the catalogue"
        d.find_element(By.ID, "sign-out").click()
        self.visible("#signin-form", "the sign-in form after signing out")
        self.step("a supervisor sees the catalogue only; signing out")

        # The API documentation page works under the same policy.
        d.get(f"{a.base}/docs")
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.op")) > 50, "the documented operations")
        problems = [entry["message"] for entry in d.get_log("browser") if entry["level"] == "SEVERE"]
        assert not problems, f"the docs page made the browser report errors: {problems}"
        self.step("/docs renders every operation with no error")

    def close(self):
        self.driver.quit()


def main():
    parser = argparse.ArgumentParser()
    for name in ("base", "login", "password", "accept", "reject", "reason", "user", "service", "expect-real", "markup-name", "supervisor"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--screenshots")
    args = parser.parse_args()
    walk = Walk(args)
    try:
        walk.run()
        print(json.dumps({"ok": True, "steps": walk.steps, "screenshots": walk.shots}))
    except Exception as error:  # noqa: BLE001 - report any failure with where it happened
        walk.shot("failure")
        print(json.dumps({"ok": False, "steps": walk.steps, "error": f"{type(error).__name__}: {error}",
                          "url": walk.driver.current_url, "screenshots": walk.shots}))
        sys.exit(1)
    finally:
        walk.close()


if __name__ == "__main__":
    main()
