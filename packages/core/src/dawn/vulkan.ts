/**
 * Whether the Vulkan loader would find a driver, decided the way the loader searches (Linux): the
 * manifest files or folders named by `VK_DRIVER_FILES` / `VK_ICD_FILENAMES` (which replace the search)
 * or `VK_ADD_DRIVER_FILES`, else the `vulkan/icd.d` folders under the XDG config and data folders,
 * `/etc` and `/usr/local/etc`. A machine without any (a GPU-less server or CI runner) has no Vulkan
 * adapter to find, and asking Dawn anyway makes the loader print "vkCreateInstance: Found no drivers!".
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

function hasManifest(path: string): boolean {
  try {
    if (statSync(path).isDirectory()) return readdirSync(path).some((name) => name.endsWith('.json'));
    return existsSync(path);
  } catch {
    return false;
  }
}

function listed(value: string | undefined): string[] {
  return (value ?? '').split(':').filter((p) => p.length > 0);
}

/** The folders and files the Vulkan loader reads driver manifests from, in `env`. */
export function vulkanDriverSearchPaths(env: Record<string, string | undefined> = process.env): string[] {
  const explicit = listed(env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES);
  if (explicit.length > 0) return [...explicit, ...listed(env.VK_ADD_DRIVER_FILES)];
  const configDirs = listed(env.XDG_CONFIG_DIRS).length > 0 ? listed(env.XDG_CONFIG_DIRS) : ['/etc/xdg'];
  const dataDirs = listed(env.XDG_DATA_DIRS).length > 0 ? listed(env.XDG_DATA_DIRS) : ['/usr/local/share', '/usr/share'];
  const home = env.HOME ?? homedir();
  const dataHome = env.XDG_DATA_HOME ?? join(home, '.local', 'share');
  const configHome = env.XDG_CONFIG_HOME ?? join(home, '.config');
  return [
    ...listed(env.VK_ADD_DRIVER_FILES),
    join(configHome, 'vulkan', 'icd.d'),
    ...configDirs.map((d) => join(d, 'vulkan', 'icd.d')),
    '/etc/vulkan/icd.d',
    '/usr/local/etc/vulkan/icd.d',
    join(dataHome, 'vulkan', 'icd.d'),
    ...dataDirs.map((d) => join(d, 'vulkan', 'icd.d')),
  ];
}

/** Whether any Vulkan driver manifest exists where the loader looks (Linux only; elsewhere assumed true). */
export function hasVulkanDriver(env: Record<string, string | undefined> = process.env): boolean {
  if (process.platform !== 'linux') return true;
  return vulkanDriverSearchPaths(env).some(hasManifest);
}
