# The notebook (or `dcgan train`) on a GPU, in TensorFlow's official GPU Jupyter image, as a non-root user.
# Data and runs stay on the host: data/ is mounted at /data ($DLND_DATA_DIR), runs/ at the project's runs/.
#   mkdir -p data runs && docker build --build-arg USER_ID=$(id -u) -t dlnd-face-generation .
#   docker run --gpus all -p 127.0.0.1:8888:8888 -p 127.0.0.1:6006:6006 -v "$PWD/data:/data" -v "$PWD/runs:/home/dcgan/dlnd-face-generation/runs" dlnd-face-generation
#   docker run --gpus all -v "$PWD/data:/data" -v "$PWD/runs:/home/dcgan/dlnd-face-generation/runs" dlnd-face-generation dcgan train --dataset mnist
# docs/cloud.md has the rest (TensorBoard, headless notebook runs).
ARG TF_IMAGE=tensorflow/tensorflow:2.21.0-gpu-jupyter
FROM ${TF_IMAGE}

# The user owns what it writes to the mounted folders: give it your own uid (--build-arg USER_ID=$(id -u)).
ARG USER_ID=1000
RUN useradd --create-home --non-unique --uid ${USER_ID} --shell /bin/bash dcgan
WORKDIR /home/dcgan/dlnd-face-generation
COPY --chown=dcgan:dcgan . .
# TensorFlow with CUDA comes with the image; this adds the project (pyproject.toml) and its other packages.
RUN pip install --no-cache-dir -r requirements.txt \
    && mkdir -p /data runs && chown dcgan:dcgan /data runs

USER dcgan
ENV DLND_DATA_DIR=/data
VOLUME ["/data", "/home/dcgan/dlnd-face-generation/runs"]
# Jupyter Lab, TensorBoard
EXPOSE 8888 6006
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "dlnd_face_generation.ipynb"]
