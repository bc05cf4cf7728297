"""The page in a real browser: Debian's Chromium, headless, driven by Selenium through Debian's
chromedriver, against `python -m dcgan serve` started as a subprocess on a free 127.0.0.1 port.

Without a browser the test skips and says why, except with CI=true, where it fails. The README's
screenshot is made with the shipped CelebA generator by the same steps:

    .venv/bin/python tests/test_page.py --pretrained celeba --screenshot assets/serve_page.png
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import httpx
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
BROWSER_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--window-size=1280,1200')
START_TIMEOUT = 60       # seconds for the service to answer /api/health
WAIT = 20                # seconds for the page to show an image
GIF_SIDE = 28 * 4        # the interpolation GIF's frames: 28-pixel faces enlarged 4 times
SHOWN_IMAGE = '''
const img = document.getElementById(arguments[0]);
const frame = img.closest('figure');
if (frame.dataset.state !== 'ready' || !img.complete || img.naturalWidth === 0) return null;
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth;
canvas.height = img.naturalHeight;
canvas.getContext('2d').drawImage(img, 0, 0);
return {url: img.dataset.url, width: img.naturalWidth, height: img.naturalHeight, pixels: canvas.toDataURL()};
'''


def browser_missing():
    """Why the browser test cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'selenium is not installed (pip install -r requirements.txt)'
    for path, package in ((CHROMIUM, 'chromium'), (CHROMEDRIVER, 'chromium-driver')):
        if not os.access(path, os.X_OK):
            return f'{path} is missing (apt-get install {package})'
    return None


def start_browser(profile):
    """Headless Chromium with a fresh profile, through Debian's chromedriver (no driver download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BROWSER_FLAGS + (f'--user-data-dir={profile}',):
        options.add_argument(flag)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def free_port():
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def start_service(model_args, port):
    """`python -m dcgan serve MODEL --port PORT` in the project folder, once it answers /api/health."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    process = subprocess.Popen([sys.executable, '-m', 'dcgan', 'serve', *model_args, '--port', str(port)], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError('dcgan serve stopped:\n' + process.stdout.read())
        try:
            if httpx.get(f'http://127.0.0.1:{port}/api/health', timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    stop_service(process)
    raise RuntimeError(f'dcgan serve did not answer within {START_TIMEOUT} s')


def stop_service(process):
    """Stop the service we started and return what it printed."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def shown(driver, element_id, differs_from=None):
    """What the page's <img> shows once it is loaded (and differs from `differs_from`, if given)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(driver):
        found = driver.execute_script(SHOWN_IMAGE, element_id)
        if found and (differs_from is None or found['url'] != differs_from['url']):
            return found
        return None
    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(ready, f'#{element_id} never showed an image')


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def exercise_page(driver, base, screenshot):
    """Open the page, click Random, check the grid changed, the walk GIF loads, the URL reproduces the
    view and nothing failed in the console; save a screenshot. Returns what was seen."""
    from selenium.webdriver.common.by import By
    driver.get(base + '/?seed=42&n=16&psi=0.8&a=3&b=7&steps=16')
    before = shown(driver, 'grid')
    assert query(before['url']) == dict(seed='42', n='16', psi='0.8')
    assert driver.find_element(By.ID, 'seed').get_attribute('value') == '42'
    walk = shown(driver, 'walk')
    assert (walk['width'], walk['height']) == (GIF_SIDE, GIF_SIDE)
    assert query(walk['url']) == dict(a='3', b='7', steps='16', psi='0.8')

    driver.find_element(By.ID, 'random').click()
    after = shown(driver, 'grid', differs_from=before)
    assert after['pixels'] != before['pixels'], 'the grid did not change'
    new_seed = query(after['url'])['seed']
    assert new_seed != '42' and query(driver.current_url)['seed'] == new_seed, 'the URL does not keep the seed'
    assert driver.find_element(By.ID, 'seed').get_attribute('value') == new_seed

    driver.find_element(By.ID, 'random-pair').click()
    new_walk = shown(driver, 'walk', differs_from=walk)
    assert new_walk['width'] == GIF_SIDE and new_walk['pixels'] != walk['pixels']
    assert driver.find_element(By.ID, 'download-gif').get_attribute('href').endswith(new_walk['url'])

    link = driver.current_url                      # "share a link": the same view in a fresh page load
    driver.get('about:blank')
    driver.get(link)
    assert shown(driver, 'grid')['pixels'] == after['pixels']
    assert shown(driver, 'walk')['url'] == new_walk['url']
    assert 'steps' in driver.find_element(By.ID, 'info').text.lower()
    driver.save_screenshot(screenshot)
    errors = [entry for entry in driver.get_log('browser') if entry['level'] == 'SEVERE']
    assert not errors, errors
    return dict(before=before, after=after, walk=new_walk)


def require_browser():
    """Skip the test, saying why, when there is no browser; with CI=true fail instead."""
    missing = browser_missing()
    if missing:
        if os.environ.get('CI') == 'true':
            pytest.fail(f'CI=true, so the browser test must run, but {missing}')
        pytest.skip(missing)


@pytest.fixture
def browser(tmp_path):
    require_browser()
    driver = start_browser(tmp_path / 'profile')
    yield driver
    driver.quit()


def test_page_in_a_real_browser(browser, tmp_path):
    from test_pretrained import tiny_run
    run = tiny_run(tmp_path / 'tiny')
    port = free_port()
    service = start_service(['--checkpoint', run], port)
    try:
        exercise_page(browser, f'http://127.0.0.1:{port}', str(tmp_path / 'page.png'))
    finally:
        output = stop_service(service)
    assert 'Serving tiny on http://127.0.0.1:' in output
    assert os.path.getsize(tmp_path / 'page.png') > 10_000


@pytest.mark.parametrize('ci, outcome', [('true', pytest.fail.Exception), ('', pytest.skip.Exception)])
def test_without_a_browser_the_test_skips_with_its_reason_unless_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(sys.modules[__name__], 'CHROMIUM', '/nonexistent/chromium')
    monkeypatch.setenv('CI', ci)
    with pytest.raises(outcome, match='/nonexistent/chromium is missing .apt-get install chromium.'):
        require_browser()


def main():
    """Take the README's screenshot with a given generator."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--pretrained')
    source.add_argument('--checkpoint')
    parser.add_argument('--screenshot', required=True)
    args = parser.parse_args()
    missing = browser_missing()
    if missing:
        raise SystemExit(f'error: {missing}')
    port = free_port()
    service = start_service(['--pretrained', args.pretrained] if args.pretrained else ['--checkpoint', args.checkpoint],
                            port)
    profile = tempfile.mkdtemp(prefix='page-profile-')
    driver = start_browser(profile)
    tmp = args.screenshot + '.tmp.png'
    try:
        exercise_page(driver, f'http://127.0.0.1:{port}', tmp)
        os.replace(tmp, args.screenshot)
    finally:
        driver.quit()
        stop_service(service)
        shutil.rmtree(profile, ignore_errors=True)
    print(f'Wrote {args.screenshot}')


if __name__ == '__main__':
    main()
