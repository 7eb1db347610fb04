//! Registry credentials, found where other OCI tools keep them: the
//! `CUSTOMS_REGISTRY_USERNAME` / `CUSTOMS_REGISTRY_PASSWORD` environment
//! variables, then the Docker config (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`, credential helpers included), then podman's
//! `auth.json` (`$REGISTRY_AUTH_FILE`). Anonymous when none has an entry.

use docker_credential::DockerCredential;
use oci_client::secrets::RegistryAuth;

pub(crate) fn for_registry(registry: &str) -> RegistryAuth {
    if let (Ok(user), Ok(password)) = (
        std::env::var("CUSTOMS_REGISTRY_USERNAME"),
        std::env::var("CUSTOMS_REGISTRY_PASSWORD"),
    ) {
        return RegistryAuth::Basic(user, password);
    }
    let found = docker_credential::get_credential(registry)
        .or_else(|_| docker_credential::get_podman_credential(registry));
    match found {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            RegistryAuth::Basic(user, password)
        }
        Ok(DockerCredential::IdentityToken(token)) => RegistryAuth::Bearer(token),
        Err(e) => {
            tracing::debug!(registry, "no stored credentials ({e}); anonymous");
            RegistryAuth::Anonymous
        }
    }
}
